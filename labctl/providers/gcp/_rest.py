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
        credentials: Credentials | None,
        base_url: str,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.project = project
        self.retry = retry or RetryPolicy()
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.max_pages = max_pages
        self.local = is_loopback(self.base_url)
        if session is None:
            session = session_for(credentials)
        self.last_date: str | None = None  # the Date header of the last response
        session.headers["User-Agent"] = USER_AGENT
        self._session = session

    @property
    def session(self) -> requests.Session:
        return self._session

    def at(self, base_url: str) -> RestCompute:
        """The same project, session and retries against another API's base URL (Cloud
        Billing: "https://cloudbilling.googleapis.com/v1/")."""
        return RestCompute(
            self.project,
            credentials=None,
            base_url=base_url,
            retry=self.retry,
            session=self._session,
            max_pages=self.max_pages,
        )

    def url(self, path: str, *, project: str | None = None) -> str:
        """The full URL; every segment is checked so no value can redirect the request.
        `project` reads from another project (public images live in their own); a path of
        "" is the project itself (projects.get: quotas, the project number)."""
        parts = path.strip("/").split("/") if path.strip("/") else []
        segments = [project or self.project, *parts]
        for segment in segments:
            if not _SEGMENT_RE.fullmatch(segment) or ".." in segment:
                raise InvalidInput(f"{segment!r} cannot be part of a Compute Engine URL")
        return f"{self.base_url}projects/{'/'.join(segments)}"

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        zone: str | None = None,
        project: str | None = None,
    ) -> dict[str, Any]:
        """One GET; the decoded JSON body or a labctl error."""
        return self.request("GET", path, params=params, zone=zone, project=project)

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
        project: str | None = None,
    ) -> dict[str, Any]:
        url = self.url(path, project=project)

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
        self.last_date = response.headers.get("Date")
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


def is_loopback(url: str) -> bool:
    """True for an endpoint on this machine ("http://127.0.0.1:9023", "localhost:9023")."""
    host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_connection_error(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, requests.ConnectionError | ConnectionError)


def session_for(credentials: Credentials | None) -> requests.Session:
    """AuthorizedSession adds and refreshes tokens; anonymous access (an emulator) needs neither,
    and a plain Session skips importing google-auth's transport and signers."""
    from google.auth.credentials import AnonymousCredentials

    if credentials is None or isinstance(credentials, AnonymousCredentials):
        import requests

        return requests.Session()
    from google.auth.transport.requests import AuthorizedSession

    return AuthorizedSession(credentials)
