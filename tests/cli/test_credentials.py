"""The real provider factory, with no credentials anywhere: one line, the command to run, exit 1."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from labctl.cli import app


@pytest.mark.parametrize("on_gce", [False, True])
def test_no_credentials_is_one_line_with_the_login_command(
    monkeypatch: pytest.MonkeyPatch, on_gce: bool
) -> None:
    # on_gce=True goes through google.auth.default() and its metadata probe (to a closed
    # loopback port); on_gce=False is the laptop's fast path that skips the probe.
    monkeypatch.setattr("labctl.providers.gcp.auth.might_be_on_gce", lambda: on_gce)
    result = CliRunner().invoke(app, ["vm", "list", "--project", "my-course-1"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error:") and "credentials" in lines[0]
    assert "gcloud auth application-default login" in result.stderr
    assert len(lines) <= 2


def test_emulator_override_needs_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from labctl.emulator import Emulator

    with Emulator(compute_port=0) as emu:
        monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", emu.compute_url)
        result = CliRunner().invoke(
            app, ["vm", "list", "--project", "my-course-1", "--format", "json"]
        )
        assert result.exit_code == 0, result.stderr
        assert result.stdout.strip() == "[]"
        lists = [r for r in emu.requests if r["path"].endswith("/aggregated/instances")]
        assert len(lists) == 1


def test_might_be_on_gce_honours_a_configured_metadata_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from labctl.providers.gcp.auth import might_be_on_gce

    assert might_be_on_gce()  # the isolation fixture points GCE_METADATA_HOST at loopback
    monkeypatch.delenv("GCE_METADATA_HOST")
    monkeypatch.delenv("GCE_METADATA_IP")
    monkeypatch.setattr("pathlib.Path.read_text", lambda self: "Google Compute Engine")
    assert might_be_on_gce()
    monkeypatch.setattr("pathlib.Path.read_text", lambda self: "Standard PC (Q35)")
    assert not might_be_on_gce()
