"""Compute Engine v1 over REST with google-auth's session: every read, write and wait.

One transport and one error translation for the whole provider. Importing google-cloud-compute
costs about 1.2 s and 150 MB (its message types alone 0.36 s and 56 MB), more than a whole
`labctl vm create` may; the JSON bodies labctl sends are the API's own (see _build.py), and the
tests check each against google-cloud-compute's message types.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from labctl.errors import EndpointUnreachable, InvalidInput, LabctlError, TransientError
from labctl.providers.gcp import _errors
from labctl.retry import RetryPolicy

if TYPE_CHECKING:
    import requests
    from google.auth.credentials import Credentials

log = logging.getLogger(__name__)

USER_AGENT = "labctl/0.1"
TIMEOUT = (10.0, 60.0)  # (connect, read) seconds
LOCAL_CONNECT_TIMEOUT = 3.0  # an emulator on this machine answers at once or not at all
PAGE_SIZE = 500  # Compute's maximum maxResults
MAX_PAGES = 40  # 20,000 resources: far beyond a course, still a bound
# One path segment: a project ("my-proj", "example.com:my-proj"), zone, region or resource name.
_SEGMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")


class RestCompute:
    """Requests against a Compute v1 base URL ("https://compute.googleapis.com/compute/v1/").

    Paths are relative to `projects/{project}/`. Errors come back as labctl errors; rate limits
    and 5xx are retried by `retry` with the same arguments (an insert keeps its requestId).
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
        self.local = _is_loopback(self.base_url)
        if session is None:
            session = _session_for(credentials)
        session.headers["User-Agent"] = USER_AGENT
        self._session = session

    def url(self, path: str) -> str:
        """The full URL; every segment is checked so no value can redirect the request."""
        inner = path.strip("/")
        segments = [self.project, *(inner.split("/") if inner else ())]  # "" is the project
        for segment in segments:
            if not _SEGMENT_RE.fullmatch(segment) or ".." in segment:
                raise InvalidInput(f"{segment!r} cannot be part of a Compute Engine URL")
        return f"{self.base_url}projects/{'/'.join(segments)}"

    def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, zone: str | None = None
    ) -> dict[str, Any]:
        """One GET; the decoded JSON body or a labctl error."""
        return self.request("GET", path, params=params, zone=zone)

    def post(
        self,
        path: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        zone: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        return self.request("POST", path, params=params, body=body, zone=zone, timeout=timeout)

    def delete(
        self, path: str, params: Mapping[str, Any] | None = None, *, zone: str | None = None
    ) -> dict[str, Any]:
        return self.request("DELETE", path, params=params, zone=zone)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        zone: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        url = self.url(path)

        def once() -> dict[str, Any]:
            return self._send(method, url, params, body, zone=zone, read_timeout=timeout)

        return self.retry.call(once, what=f"{method} {path}")

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
        *,
        zone: str | None,
        read_timeout: float | None,
    ) -> dict[str, Any]:
        connect = LOCAL_CONNECT_TIMEOUT if self.local else TIMEOUT[0]
        try:
            response = self._session.request(
                method,
                url,
                params=dict(params or {}),
                json=None if body is None else dict(body),
                timeout=(connect, read_timeout or TIMEOUT[1]),
            )
        except LabctlError:
            raise
        except Exception as exc:
            if self.local and _is_connection_error(exc):
                raise EndpointUnreachable(
                    f"nothing answers at {self.base_url}", url=self.base_url
                ) from exc
            mapped = _errors.from_exception(exc, zone=zone)
            if mapped is None:
                raise
            raise mapped from exc
        if response.status_code >= 400:
            raise _errors.from_rest_response(response.status_code, response.content, zone=zone)
        try:
            decoded: dict[str, Any] = response.json() if response.content else {}
        except ValueError as exc:
            raise TransientError(
                f"Compute Engine sent a response that is not JSON ({url})"
            ) from exc
        return decoded

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


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_connection_error(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, requests.ConnectionError | ConnectionError)


def _session_for(credentials: Credentials) -> requests.Session:
    """AuthorizedSession adds and refreshes tokens; anonymous access (an emulator) needs neither,
    and a plain Session skips importing google-auth's transport and signers."""
    from google.auth.credentials import AnonymousCredentials

    if isinstance(credentials, AnonymousCredentials):
        import requests

        return requests.Session()
    from google.auth.transport.requests import AuthorizedSession

    return AuthorizedSession(credentials)
