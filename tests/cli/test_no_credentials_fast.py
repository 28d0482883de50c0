"""Off Google Cloud, no credentials is known at once: labctl never asks google-auth, whose
metadata-server probe is what takes seconds (it would wait for an answer that never comes)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from labctl.cli import app


def test_off_gce_without_credentials_google_auth_is_never_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import google.auth

    monkeypatch.delenv("GCE_METADATA_HOST")
    monkeypatch.delenv("GCE_METADATA_IP")
    monkeypatch.setattr("pathlib.Path.read_text", lambda self, *a, **k: "Standard PC (Q35)")

    def probe(*args: object, **kwargs: object) -> None:
        raise AssertionError("google.auth.default() was called: it would probe the metadata server")

    monkeypatch.setattr(google.auth, "default", probe)
    result = CliRunner().invoke(app, ["vm", "list", "--project", "my-course-1"])
    assert result.exit_code == 1, result.output
    assert "no Google Cloud credentials found" in result.stderr
    assert "gcloud auth application-default login" in result.stderr
