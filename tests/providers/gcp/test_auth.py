"""Credentials and project resolution: emulator runs never probe the metadata server."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import google.auth
import pytest
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import DefaultCredentialsError

from labctl.errors import CredentialsError, InvalidInput
from labctl.providers.gcp import auth

EMULATOR_URL = "http://127.0.0.1:8085/compute/v1/"


def forbid_default(*args: Any, **kwargs: Any) -> Any:
    pytest.fail("google.auth.default() must not be called")


def test_override_without_credentials_is_anonymous_without_probing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(google.auth, "default", forbid_default)
    credentials, project = auth.resolve_credentials(endpoint_override=EMULATOR_URL)
    assert isinstance(credentials, AnonymousCredentials)
    assert project is None


def test_override_with_adc_file_uses_google_auth(
    monkeypatch: pytest.MonkeyPatch, isolated_google_env: Path
) -> None:
    (isolated_google_env / "application_default_credentials.json").write_text("{}")
    sentinel = object()
    monkeypatch.setattr(google.auth, "default", lambda **kw: (sentinel, "adc-project"))
    assert auth.resolve_credentials(endpoint_override=EMULATOR_URL) == (sentinel, "adc-project")


def test_override_with_google_application_credentials_uses_google_auth(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "sa.json"))
    seen: dict[str, Any] = {}

    def fake_default(**kwargs: Any) -> tuple[object, None]:
        seen.update(kwargs)
        return object(), None

    monkeypatch.setattr(google.auth, "default", fake_default)
    auth.resolve_credentials(endpoint_override=EMULATOR_URL)
    assert seen["scopes"] == ["https://www.googleapis.com/auth/cloud-platform"]


def test_no_override_no_credentials_is_a_credentials_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_credentials(**kwargs: Any) -> Any:
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    with pytest.raises(CredentialsError) as caught:
        auth.resolve_credentials(endpoint_override=None)
    assert caught.value.message == "no Google Cloud credentials found"


def test_no_override_no_credentials_for_real(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real google.auth.default() with nothing configured.

    The metadata server is on a closed port anyway; skipping the probe saves its 3 s of retries.
    """
    from google.auth.compute_engine import _metadata

    monkeypatch.setattr(_metadata, "is_on_gce", lambda *a, **kw: False)
    with pytest.raises(CredentialsError):
        auth.resolve_credentials(endpoint_override=None)


def no_gcloud(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth.shutil, "which", lambda name: None)


def test_project_precedence(monkeypatch: pytest.MonkeyPatch, isolated_google_env: Path) -> None:
    no_gcloud(monkeypatch)
    configurations = isolated_google_env / "configurations"
    configurations.mkdir()
    (configurations / "config_default").write_text("[core]\nproject = from-gcloud-file\n")
    assert auth.resolve_project(None, None) == "from-gcloud-file"
    monkeypatch.setenv("CLOUDSDK_CORE_PROJECT", "from-gcloud-env")
    assert auth.resolve_project(None, None) == "from-gcloud-env"
    assert auth.resolve_project(None, None, auth_project="from-adc") == "from-adc"
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-google-env")
    assert auth.resolve_project(None, None, auth_project="from-adc") == "from-google-env"
    assert auth.resolve_project(None, "from-config", auth_project="from-adc") == "from-config"
    monkeypatch.setenv("LABCTL_PROJECT", "from-labctl-env")
    assert auth.resolve_project(None, "from-config") == "from-labctl-env"
    assert auth.resolve_project("from-flag", "from-config") == "from-flag"


def test_project_from_named_gcloud_configuration(
    monkeypatch: pytest.MonkeyPatch, isolated_google_env: Path
) -> None:
    no_gcloud(monkeypatch)
    (isolated_google_env / "active_config").write_text("course\n")
    (isolated_google_env / "configurations").mkdir()
    (isolated_google_env / "configurations" / "config_course").write_text(
        "[core]\naccount = a@b.c\nproject = course-proj\n"
    )
    assert auth.resolve_project(None, None) == "course-proj"


def test_project_from_gcloud_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth.shutil, "which", lambda name: "/usr/bin/gcloud")
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        assert kwargs["timeout"] > 0
        return subprocess.CompletedProcess(cmd, 0, stdout="cmd-proj\n", stderr="")

    monkeypatch.setattr(auth.subprocess, "run", fake_run)
    assert auth.resolve_project(None, None) == "cmd-proj"
    assert calls == [["/usr/bin/gcloud", "config", "get-value", "project"]]


def test_gcloud_timeout_or_unset_means_no_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth.shutil, "which", lambda name: "/usr/bin/gcloud")

    def slow(cmd: list[str], **kwargs: Any) -> Any:
        raise subprocess.TimeoutExpired(cmd, kwargs["timeout"])

    monkeypatch.setattr(auth.subprocess, "run", slow)
    with pytest.raises(InvalidInput) as caught:
        auth.resolve_project(None, None)
    assert caught.value.message == "no project set" and caught.value.field == "project"


def test_no_project_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    no_gcloud(monkeypatch)
    with pytest.raises(InvalidInput, match="no project set"):
        auth.resolve_project(None, None)


def test_endpoint_helpers() -> None:
    assert auth.compute_base_url(None) == "https://compute.googleapis.com/compute/v1/"
    assert auth.compute_base_url("http://127.0.0.1:8085/compute/v1") == EMULATOR_URL
