"""The light read path: Compute v1 REST over google-auth's AuthorizedSession (no google.cloud)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from labctl.errors import LabctlError, TransientError
from labctl.providers.gcp import _errors
from labctl.retry import RetryPolicy

if TYPE_CHECKING:
    import requests
    from google.auth.credentials import Credentials

log = logging.getLogger(__name__)

USER_AGENT = "labctl/0.1"
TIMEOUT = (10.0, 60.0)  # (connect, read) seconds
PAGE_SIZE = 500  # Compute's maximum maxResults
MAX_PAGES = 40  # 20,000 resources: far beyond a course, still a bound


class RestCompute:
    """GET requests against a Compute v1 base URL ("https://compute.googleapis.com/compute/v1/").

    Paths are relative to `projects/{project}/`. Errors come back as labctl errors.
    """

    def __init__(
        self,
        project: str,
        *,
        credentials: Credentials,
        base_url: str,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.project = project
        self.retry = retry or RetryPolicy()
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.max_pages = max_pages
        if session is None:
            session = _session_for(credentials)
        session.headers["User-Agent"] = USER_AGENT
        self._session = session

    def url(self, path: str) -> str:
        return f"{self.base_url}projects/{self.project}/{path.lstrip('/')}"

    def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, zone: str | None = None
    ) -> dict[str, Any]:
        """One GET (retried on rate limits and 5xx); the decoded JSON body or a labctl error."""
        return self.retry.call(lambda: self._get_once(path, params, zone=zone), what=f"GET {path}")

    def _get_once(
        self, path: str, params: Mapping[str, Any] | None, *, zone: str | None
    ) -> dict[str, Any]:
        url = self.url(path)
        try:
            response = self._session.get(url, params=dict(params or {}), timeout=TIMEOUT)
        except LabctlError:
            raise
        except Exception as exc:
            mapped = _errors.from_exception(exc, zone=zone)
            if mapped is None:
                raise
            raise mapped from exc
        if response.status_code >= 400:
            raise _errors.from_rest_response(response.status_code, response.content, zone=zone)
        try:
            body: dict[str, Any] = response.json()
        except ValueError as exc:
            raise TransientError(
                f"Compute Engine sent a response that is not JSON ({url})"
            ) from exc
        return body

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a list call, following nextPageToken, at most `max_pages`."""
        query = {"maxResults": PAGE_SIZE, **(params or {})}
        for _ in range(self.max_pages):
            page = self.get(path, query)
            yield page
            token = page.get("nextPageToken")
            if not token:
                return
            query["pageToken"] = token
        log.warning("%s: stopped after %d pages; results are incomplete", path, self.max_pages)

    def aggregated(
        self, resource: str, *, filter: str | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(scope, item) for `aggregated/{resource}` across every zone, in one paged call.

        Scopes that could not be read are logged (returnPartialSuccess=true keeps the rest).
        """
        params: dict[str, Any] = {"returnPartialSuccess": "true"}
        if filter:
            params["filter"] = filter
        for page in self.pages(f"aggregated/{resource}", params):
            unreachable = page.get("unreachables") or []
            if unreachable:
                log.warning("could not list %s in: %s", resource, ", ".join(unreachable))
            for scope, scoped in (page.get("items") or {}).items():
                for item in scoped.get(resource) or ():
                    yield scope, item


def _session_for(credentials: Credentials) -> requests.Session:
    """AuthorizedSession adds and refreshes tokens; anonymous access (an emulator) needs neither,
    and a plain Session skips importing google-auth's transport and signers."""
    from google.auth.credentials import AnonymousCredentials

    if isinstance(credentials, AnonymousCredentials):
        import requests

        return requests.Session()
    from google.auth.transport.requests import AuthorizedSession

    return AuthorizedSession(credentials)
