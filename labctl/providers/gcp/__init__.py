"""Google Cloud providers. Importing this package is cheap: google.cloud loads only when used."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labctl.providers.gcp.compute import GcpCompute
    from labctl.retry import RetryPolicy

__all__ = ["make_compute"]


def make_compute(
    *,
    project: str | None,
    config_project: str | None = None,
    retry: RetryPolicy | None = None,
) -> GcpCompute:
    """A GcpCompute for the resolved project and credentials.

    Honours CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE (anonymous credentials when no credentials
    file is configured, as for an emulator). Raises CredentialsError or InvalidInput.
    """
    from labctl.providers.gcp.auth import (
        compute_endpoint_override,
        resolve_credentials,
        resolve_project,
    )
    from labctl.providers.gcp.compute import GcpCompute

    override = compute_endpoint_override()
    credentials, auth_project = resolve_credentials(endpoint_override=override)
    resolved = resolve_project(project, config_project, auth_project=auth_project)
    return GcpCompute(resolved, credentials=credentials, base_url=override, retry=retry)
