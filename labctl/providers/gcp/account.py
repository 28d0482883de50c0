"""What `labctl doctor` asks of the GCP provider: whose credentials, the billing link, the API's
clock, and a VM's preemptions (https://cloud.google.com/compute/docs/instances/spot#detect-preemption
lists preemptions as `compute.instances.preempted` operations)."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from labctl.models import Billing
from labctl.providers.gcp._parse import parse_timestamp
from labctl.providers.gcp._rest import RestCompute

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

log = logging.getLogger(__name__)

BILLING_OVERRIDE_ENV = "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDBILLING"
DEFAULT_BILLING_URL = "https://cloudbilling.googleapis.com/"
TOKENINFO_URL = "https://oauth2.googleapis.com/tokeninfo"
TOKENINFO_TIMEOUT_S = 5.0
PREEMPTED = "compute.instances.preempted"


class AccountMixin:
    """Part of GcpCompute; needs its `_rest`, `project`, `base_url` and `credentials`."""

    project: str
    base_url: str
    credentials: Credentials
    _rest: RestCompute

    def whoami(self) -> str:
        from google.auth.credentials import AnonymousCredentials

        if isinstance(self.credentials, AnonymousCredentials):
            return f"anonymous, as the local endpoint {self.base_url} needs none"
        who = _principal(self.credentials) or self._token_email() or "e-mail not known"
        return f"{who} ({_credentials_source()})"

    def billing(self) -> Billing:
        body = self._rest.at(self._billing_base() + "v1/").get("billingInfo")
        account = str(body.get("billingAccountName") or "") or None
        return Billing(enabled=bool(body.get("billingEnabled")), account=account)

    def server_time(self) -> datetime | None:
        self._rest.get("zones", {"maxResults": 1})
        if not self._rest.last_date:
            return None
        try:
            return parsedate_to_datetime(self._rest.last_date)
        except (TypeError, ValueError):
            return None

    def preemptions(self, name: str, zone: str) -> list[datetime]:
        found = []
        params = {"filter": f'operationType = "{PREEMPTED}"'}
        for page in self._rest.pages(f"zones/{zone}/operations", params):
            for op in page.get("items") or ():
                target = str(op.get("targetLink") or "")
                if op.get("operationType") == PREEMPTED and target.endswith(f"/instances/{name}"):
                    when = parse_timestamp(op.get("insertTime"))
                    if when is not None:
                        found.append(when)
        return sorted(found)

    def _billing_base(self) -> str:
        override = os.environ.get(BILLING_OVERRIDE_ENV)
        if override:
            return override if override.endswith("/") else override + "/"
        if self._rest.local:  # an emulator serves Cloud Billing on its Compute port
            return self.base_url.split("compute/v1/", 1)[0]
        return DEFAULT_BILLING_URL

    def _token_email(self) -> str | None:
        """A user's e-mail from Google's tokeninfo endpoint (ADC files do not record it)."""
        try:
            from google.auth.transport.requests import Request

            self.credentials.refresh(Request())
            token = getattr(self.credentials, "token", None)
            if not token:
                return None
            response = self._rest.session.get(
                TOKENINFO_URL, params={"access_token": token}, timeout=TOKENINFO_TIMEOUT_S
            )
            email: Any = response.json().get("email") if response.ok else None
            return str(email) if email else None
        except Exception as exc:  # an unknown e-mail is not worth failing doctor for
            log.debug("tokeninfo failed: %s", exc)
            return None


def _principal(credentials: Any) -> str | None:
    """The account a credentials object names by itself (service accounts, impersonation)."""
    for attribute in ("service_account_email", "signer_email", "_target_principal", "account"):
        value = getattr(credentials, attribute, None)
        if isinstance(value, str) and "@" in value:
            return value
    return None


def _credentials_source() -> str:
    from labctl.providers.gcp.auth import gcloud_config_dir

    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if path:
        return f"GOOGLE_APPLICATION_CREDENTIALS={path}"
    if (gcloud_config_dir() / "application_default_credentials.json").is_file():
        return "gcloud auth application-default login"
    return "the metadata server"
