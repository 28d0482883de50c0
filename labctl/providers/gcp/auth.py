"""Credentials, project and endpoint resolution for the Google Cloud providers."""

from __future__ import annotations

import configparser
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.errors import CredentialsError, InvalidInput
from labctl.naming import check_project_id

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

log = logging.getLogger(__name__)

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
COMPUTE_OVERRIDE_ENV = "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE"
DEFAULT_COMPUTE_URL = "https://compute.googleapis.com/compute/v1/"
GCLOUD_TIMEOUT_S = 5.0


def compute_endpoint_override() -> str | None:
    """The Compute base URL gcloud would use instead of the public one, if set."""
    return os.environ.get(COMPUTE_OVERRIDE_ENV) or None


def compute_base_url(override: str | None) -> str:
    """Base URL ending in '/', e.g. "http://127.0.0.1:8085/compute/v1/"."""
    url = override or DEFAULT_COMPUTE_URL
    return url if url.endswith("/") else url + "/"


def gcloud_config_dir() -> Path:
    """gcloud's configuration directory (`CLOUDSDK_CONFIG`, else the per-user default)."""
    configured = os.environ.get("CLOUDSDK_CONFIG")
    if configured:
        return Path(configured)
    if os.name == "nt":
        return Path(os.environ.get("APPDATA", Path.home())) / "gcloud"
    return Path.home() / ".config" / "gcloud"


def explicit_credentials_available() -> bool:
    """True if a credentials file is configured: GOOGLE_APPLICATION_CREDENTIALS or gcloud ADC."""
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return True
    return (gcloud_config_dir() / "application_default_credentials.json").is_file()


def adc_quota_project() -> str | None:
    """The quota project recorded in gcloud's Application Default Credentials file, if any."""
    import json

    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or str(
        gcloud_config_dir() / "application_default_credentials.json"
    )
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = (
        data.get("quota_project_id") or data.get("project_id") if isinstance(data, dict) else None
    )
    return str(value) if value else None


def might_be_on_gce() -> bool:
    """Whether a metadata server may answer: one is configured, or the BIOS says Google.

    The same residency check google-auth makes, done first and without the network.
    """
    if os.environ.get("GCE_METADATA_HOST") or os.environ.get("GCE_METADATA_IP"):
        return True
    try:
        return "Google" in Path("/sys/class/dmi/id/product_name").read_text()
    except OSError:
        return os.name == "nt"  # no cheap check there: let google-auth decide


def resolve_credentials(*, endpoint_override: str | None) -> tuple[Credentials, str | None]:
    """(credentials, project google-auth found or None).

    With an endpoint override (an emulator) and no credentials file, anonymous credentials are
    used without calling google.auth.default(), which would probe the metadata server.
    """
    explicit = explicit_credentials_available()
    if endpoint_override and not explicit:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials(), None
    if not explicit and not might_be_on_gce():
        # google.auth.default() would only probe the metadata server, for seconds, to fail.
        raise CredentialsError("no Google Cloud credentials found")

    import google.auth
    from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError

    try:
        credentials, project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except DefaultCredentialsError as exc:
        raise CredentialsError("no Google Cloud credentials found") from exc
    except GoogleAuthError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CredentialsError(f"Google credentials could not be loaded: {first_line}") from exc
    return credentials, project


def resolve_project(
    flag: str | None,
    config_value: str | None,
    *,
    auth_project: str | None = None,
    use_gcloud: bool = True,
) -> str:
    """The project to use, first found wins.

    --project flag, LABCTL_PROJECT, the labctl config value, GOOGLE_CLOUD_PROJECT (or the legacy
    GCLOUD_PROJECT), the project google-auth returned, then gcloud's configured project
    (CLOUDSDK_CORE_PROJECT, the active configuration file, finally `gcloud config get-value
    project`).
    """
    found = project_source(flag, config_value, auth_project=auth_project, use_gcloud=use_gcloud)
    if found is None:
        raise InvalidInput("no project set", field="project")
    return found[0]


def project_source(
    flag: str | None,
    config_value: str | None,
    *,
    auth_project: str | None = None,
    use_gcloud: bool = True,
    ask_gcloud: bool = True,
) -> tuple[str, str] | None:
    """(project, where it came from) in resolve_project's order, or None.

    The source reads "--project", "LABCTL_PROJECT", "labctl settings", "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT", "credentials", "CLOUDSDK_CORE_PROJECT", "gcloud config" or
    "gcloud config get-value"; `ask_gcloud=False` skips running gcloud (slow).
    """
    candidates = (
        (flag, "--project"),
        (os.environ.get("LABCTL_PROJECT"), "LABCTL_PROJECT"),
        (config_value, "labctl settings"),
        (os.environ.get("GOOGLE_CLOUD_PROJECT"), "GOOGLE_CLOUD_PROJECT"),
        (os.environ.get("GCLOUD_PROJECT"), "GCLOUD_PROJECT"),
        (auth_project, "credentials"),
    )
    for candidate, source in candidates:
        if candidate and candidate.strip():
            return check_project_id(candidate.strip()), source
    if not use_gcloud:
        return None
    env = os.environ.get("CLOUDSDK_CORE_PROJECT")
    if env and env.strip():
        return check_project_id(env.strip()), "CLOUDSDK_CORE_PROJECT"
    from_file = _gcloud_property("core", "project")
    if from_file:
        return check_project_id(from_file), "gcloud config"
    asked = _ask_gcloud_project() if ask_gcloud else None
    return (check_project_id(asked), "gcloud config get-value") if asked else None


def known_project_source(
    flag: str | None = None, config_value: str | None = None
) -> tuple[str, str] | None:
    """project_source from the environment and files only (gcloud is not run); None also
    when the project found is not a valid project id."""
    try:
        return project_source(flag, config_value, ask_gcloud=False)
    except InvalidInput:
        return None


def gcloud_zone() -> str | None:
    """The zone gcloud is configured with (CLOUDSDK_COMPUTE_ZONE, then its active
    configuration file), or None; gcloud itself is not run."""
    env = os.environ.get("CLOUDSDK_COMPUTE_ZONE")
    return env.strip() if env and env.strip() else _gcloud_property("compute", "zone")


def _ask_gcloud_project() -> str | None:
    gcloud = shutil.which("gcloud")
    if not gcloud:
        return None
    try:
        done = subprocess.run(
            [gcloud, "config", "get-value", "project"],
            capture_output=True,
            text=True,
            timeout=GCLOUD_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("gcloud config get-value project failed: %s", exc)
        return None
    value = done.stdout.strip()
    return value if done.returncode == 0 and value and value != "(unset)" else None


def _gcloud_property(section: str, name: str) -> str | None:
    """A property of gcloud's active configuration file ([core] project, [compute] zone)."""
    config_dir = gcloud_config_dir()
    active = os.environ.get("CLOUDSDK_ACTIVE_CONFIG_NAME")
    if not active:
        try:
            active = (config_dir / "active_config").read_text().strip() or "default"
        except OSError:
            active = "default"
    parser = configparser.ConfigParser()
    try:
        parser.read(config_dir / "configurations" / f"config_{active}")
    except configparser.Error:
        return None
    value = parser.get(section, name, fallback="").strip()
    return value or None
