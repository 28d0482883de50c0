"""Find the Jupyter server on the VM over SSH and build the local browser URL; never log tokens."""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import paramiko

from labctl.deadline import Backoff, Deadline, Sleep, attempts
from labctl.ssh.errors import JupyterNotRunning, SshError, seconds
from labctl.ssh.exec import capture_command

log = logging.getLogger(__name__)

# The startup script installs JupyterLab in this venv; keep the two in step.
JUPYTER_VENV_BIN = "/opt/labctl/jupyter-venv/bin/jupyter"
# Tried in order on the VM; the first that lists a server wins. Each prints one JSON
# object per running server, read from the runtime dir of the SSH user.
JUPYTER_LIST_COMMANDS: tuple[str, ...] = (
    f"{JUPYTER_VENV_BIN} server list --json",
    "jupyter server list --json",
    "jupyter notebook list --json",
)
DEFAULT_JUPYTER_PORT = 8888
DEFAULT_WAIT = 300.0  # first boot installs drivers and JupyterLab
_TOKEN_RE = re.compile(r"""(token["']?\s*[=:]\s*["']?)[^&\s"',}]+""", re.IGNORECASE)

GetTransport = Callable[[], paramiko.Transport]
Progress = Callable[[float, str], None]  # (seconds elapsed, status line)


@dataclass(frozen=True)
class JupyterServer:
    """One entry of `jupyter server list --json`. `repr()` never shows the token."""

    url: str
    port: int
    token: str = field(repr=False)
    base_url: str = "/"
    root_dir: str = ""
    pid: int | None = None
    secure: bool = False

    def browser_url(self, local_port: int, page: str = "lab") -> str:
        """`http://127.0.0.1:LOCALPORT/<base_url>lab?token=...` for the forwarded port."""
        base = self.base_url if self.base_url.endswith("/") else self.base_url + "/"
        url = f"http://127.0.0.1:{local_port}{base}{page}"
        return f"{url}?token={urllib.parse.quote(self.token, safe='')}" if self.token else url


def redact_tokens(text: str) -> str:
    """Mask `token=...` (URLs) and `"token": "..."` (JSON) values in `text`."""
    return _TOKEN_RE.sub(r"\1***", text)


class TokenRedactingFilter(logging.Filter):
    """A logging filter that masks Jupyter tokens; attach it to the CLI's log handlers."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__()
        self.secrets = {s for s in secrets if s}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_tokens(message)
        for secret in self.secrets:
            clean = clean.replace(secret, "***")
        if clean != message:
            record.msg, record.args = clean, None
        return True


def parse_server_list(text: str) -> list[JupyterServer]:
    """Servers from `jupyter ... list --json` (one object a line) or `--jsonlist` (an array).

    Lines that are not JSON objects with a url and port are skipped; errors never echo
    the text, which holds tokens.
    """
    items: list[object] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith(("{", "[")):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            log.debug("skipping a line of Jupyter output that is not JSON")
            continue
        items.extend(value if isinstance(value, list) else [value])
    servers: list[JupyterServer] = []
    for item in items:
        if not isinstance(item, dict) or "port" not in item or "url" not in item:
            continue
        try:
            pid = item.get("pid")
            servers.append(
                JupyterServer(
                    url=str(item["url"]),
                    port=int(item["port"]),
                    token=str(item.get("token") or ""),
                    base_url=str(item.get("base_url") or "/"),
                    root_dir=str(item.get("root_dir") or item.get("notebook_dir") or ""),
                    pid=int(pid) if pid is not None else None,
                    secure=bool(item.get("secure", False)),
                )
            )
        except (TypeError, ValueError):
            continue
    return servers


def discovery_script(commands: Sequence[str] = JUPYTER_LIST_COMMANDS) -> str:
    """One remote shell script that runs `commands` in order and prints the first non-empty output.

    One SSH round trip per poll instead of one per command.
    """
    lines = [
        f'out=$({cmd} 2>/dev/null); if [ -n "$out" ]; then printf "%s\\n" "$out"; exit 0; fi'
        for cmd in commands
    ]
    return "\n".join([*lines, "exit 0"])


def discover_servers(
    transport: paramiko.Transport,
    commands: Sequence[str] = JUPYTER_LIST_COMMANDS,
    *,
    timeout: float = 30.0,
) -> list[JupyterServer]:
    """The Jupyter servers running on the VM as the SSH user (empty if none)."""
    result = capture_command(transport, discovery_script(commands), timeout=timeout)
    return parse_server_list(result.stdout.decode(errors="replace"))


def pick_server(servers: Sequence[JupyterServer], port: int | None) -> JupyterServer:
    """The server on `port` if there is one, else the first listed."""
    for server in servers:
        if server.port == port:
            return server
    return servers[0]


def wait_for_jupyter(
    get_transport: GetTransport,
    deadline: Deadline,
    *,
    interval: float = 2.0,
    port: int | None = DEFAULT_JUPYTER_PORT,
    commands: Sequence[str] = JUPYTER_LIST_COMMANDS,
    on_progress: Progress | None = None,
    vm_name: str | None = None,
    zone: str | None = None,
    sleep: Sleep = time.sleep,
) -> JupyterServer:
    """Poll the VM until a Jupyter server is listed or `deadline` passes (`JupyterNotRunning`).

    `on_progress(elapsed, status)` is called after every poll, so a spinner can show it.
    A failed poll (e.g. SSH reconnecting) counts as "not yet" rather than an error.
    """
    status = "no Jupyter server yet"
    polls = 0
    for _ in attempts(deadline, Backoff(initial=interval, maximum=interval), sleep=sleep):
        polls += 1
        try:
            # At least a second per poll, even when the wait is all but over.
            budget = max(1.0, deadline.cap(30.0))
            servers = discover_servers(get_transport(), commands, timeout=budget)
            status = "no Jupyter server yet"
        except SshError as exc:
            servers, status = [], f"cannot ask the VM ({exc.message})"
        if servers:
            server = pick_server(servers, port)
            log.info("found Jupyter on the VM's port %d (pid %s)", server.port, server.pid)
            return server
        if on_progress is not None:
            on_progress(deadline.elapsed(), status)
    vm = vm_name or "the VM"
    where = f" --zone {zone}" if zone else ""
    checks = f"{polls} check{'s' if polls != 1 else ''}"
    raise JupyterNotRunning(
        f"no Jupyter server is running on {vm} after {seconds(deadline.elapsed())} "
        f"({checks}; the last: {status})",
        hint="its startup script may still be running or may have failed; its log is in the "
        f"serial console: gcloud compute instances get-serial-port-output {vm}{where}",
        kind="vm",
        name=vm_name,
        zone=zone,
    )
