"""State: every project's resources as plain JSON dicts, one lock, timed effects, persistence.

Resources are stored in their API shape. Links are stored as ``@/projects/...`` and rendered
against the base URL each request came in on, so the same state serves any port or host name.
Keys starting with ``_`` are internal and never rendered.

Time-based changes (an instance reaching RUNNING, a delete finishing) are queued as effects
with a wall-clock due time and applied by ``tick()`` at the start of each request, so nothing
sleeps while holding the lock and no background thread is needed.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import heapq
import json
import os
import random
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

LINK = "@/"
# Compute reports timestamps in US Pacific time with an offset, e.g. 2026-11-24T04:05:06.123-08:00.
_PACIFIC = timezone(timedelta(hours=-8))
SAVE_INTERVAL = 0.25  # seconds between state-file writes at most (see State.save)
_MAX_OPERATIONS = 20_000  # per project; oldest DONE operations are dropped beyond this


def timestamp(at: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if at is None else at, _PACIFIC)
    return moment.isoformat(timespec="milliseconds")


@functools.lru_cache(maxsize=65_536)
def parse_timestamp(value: str) -> float:
    """Seconds since the epoch of an RFC 3339 timestamp (cached: sweeps parse the same ones)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def shift_timestamp(value: str, seconds: float) -> str:
    """The same RFC 3339 timestamp ``seconds`` earlier, in the same UTC offset."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment - timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def new_id() -> str:
    """A random uint64 id as a decimal string, as Compute returns them."""
    return str(random.getrandbits(62) + (1 << 62))


def fingerprint(value: Any) -> str:
    """A base64 fingerprint of some content (8 bytes, like Compute's)."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()[:8]
    return base64.b64encode(digest).decode()


def operation_name() -> str:
    return f"operation-{int(time.time() * 1000)}-{secrets.token_hex(7)}-{secrets.token_hex(4)}"


def render(value: Any, base: str) -> Any:
    """Copy a stored resource for a response: drop ``_`` keys and expand ``@/`` links."""
    if isinstance(value, dict):
        return {k: render(v, base) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [render(v, base) for v in value]
    if isinstance(value, str) and value.startswith(LINK):
        return base + value[len(LINK) :]
    return value


def new_project(project: str) -> dict[str, Any]:
    number = str(random.randint(10**11, 10**12 - 1))
    metadata: dict[str, Any] = {"kind": "compute#metadata", "items": []}
    metadata["fingerprint"] = fingerprint(metadata["items"])
    return {
        "kind": "compute#project",
        "id": number,
        "name": project,
        "creationTimestamp": timestamp(),
        "commonInstanceMetadata": metadata,
        "defaultServiceAccount": f"{number}-compute@developer.gserviceaccount.com",
        "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS",
        "defaultNetworkTier": "PREMIUM",
        "vmDnsSetting": "ZONAL_ONLY",
        "selfLink": f"@/projects/{project}",
        "_instances": {},  # "zone/name" -> instance
        "_disks": {},  # "zone/name" -> disk
        "_addresses": {},  # "region/name" -> address
        "_firewalls": {},  # name -> firewall
        "_snapshots": {},  # name -> snapshot
        "_resourcePolicies": {},  # "region/name" -> resource policy
        "_operations": {},  # name -> operation
        "_requestIds": {},  # requestId -> operation name
        "_guestAttributes": {},  # "zone/instance" -> {namespace: {key: value}}
        "_runLimited": {},  # "zone/instance" -> True: VMs with maxRunDuration/terminationTime
        "_nextIp": 2,
    }


class State:
    """All emulated resources, guarded by one re-entrant lock (``state.lock``)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.lock = threading.RLock()
        # operations.wait sleeps here until its operation's end time. An operation's end time
        # is fixed when it is created, so only reset() notifies: waking every waiter on every
        # mutation would cost O(waiters) per request with a class of 1,000 VMs waiting.
        self.changed = threading.Condition(self.lock)
        self.path = Path(path) if path else None
        self.projects: dict[str, dict[str, Any]] = {}
        self.effects: list[list[Any]] = []  # heap of [due, seq, kind, args]
        self._seq = 0
        self.handlers: dict[str, Callable[..., None]] = {}
        # Called with (project id, record) when a project is first used (default firewalls).
        self.on_new_project: list[Callable[[str, dict[str, Any]], None]] = []
        # Called with the time at the end of every tick (lazy checks such as maxRunDuration).
        self.sweeps: list[Callable[[float], None]] = []
        # Derived data kept to avoid rescans (e.g. external IPs in use); not saved, and
        # dropped whenever the projects are replaced (reset, load).
        self.caches: dict[str, Any] = {}
        self._dirty = False
        self._saved_at = float("-inf")
        if self.path and self.path.exists() and self.path.stat().st_size:
            self.load()

    # --- projects -----------------------------------------------------------------------------
    def project(self, project: str) -> dict[str, Any]:
        """The project record, created on first use (any project id is accepted)."""
        proj = self.projects.get(project)
        if proj is None:
            proj = self.projects[project] = new_project(project)
            for hook in self.on_new_project:
                hook(project, proj)
        return proj

    def reset(self) -> None:
        with self.lock:
            self.projects.clear()
            self.effects.clear()
            self.caches.clear()
            self.save(force=True)
            self.changed.notify_all()

    # --- timed effects ------------------------------------------------------------------------
    def schedule(self, due: float, kind: str, *args: Any) -> None:
        """Queue ``handlers[kind](*args)`` to run once wall-clock time passes ``due``."""
        self._seq += 1
        heapq.heappush(self.effects, [due, self._seq, kind, list(args)])

    def tick(self, now: float | None = None) -> None:
        """Apply every effect that is due; bounded by the queue length."""
        now = time.time() if now is None else now
        for _ in range(len(self.effects)):
            if not self.effects or self.effects[0][0] > now:
                break
            _due, _seq, kind, args = heapq.heappop(self.effects)
            handler = self.handlers.get(kind)
            if handler is not None:
                handler(*args)
        for sweep in self.sweeps:
            sweep(now)
        if self._dirty and time.monotonic() - self._saved_at >= SAVE_INTERVAL:
            self.save(force=True)

    # --- operations bookkeeping ----------------------------------------------------------------
    def add_operation(self, project: str, op: dict[str, Any]) -> None:
        ops = self.project(project)["_operations"]
        ops[op["name"]] = op
        if len(ops) > _MAX_OPERATIONS:
            for name in list(ops)[: len(ops) - _MAX_OPERATIONS]:
                del ops[name]

    # --- persistence ----------------------------------------------------------------------------
    def save(self, force: bool = False) -> None:
        """Write the state file atomically (temp file + rename), if there is one.

        Writes are coalesced: within ``SAVE_INTERVAL`` of the last write the state is only
        marked dirty and written by a later ``tick`` or ``flush`` (rewriting a class of 1,000
        VMs after every insert would make each insert cost a full dump).
        """
        if self.path is None:
            return
        now = time.monotonic()
        if not force and now - self._saved_at < SAVE_INTERVAL:
            self._dirty = True
            return
        self._dirty = False
        self._saved_at = now
        with self.lock:
            data = {"version": 1, "projects": self.projects, "effects": self.effects}
            text = json.dumps(data, separators=(",", ":"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".emulator-state-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def flush(self) -> None:
        """Write a pending (coalesced) save now."""
        with self.lock:
            if self._dirty:
                self.save(force=True)

    def load(self) -> None:
        assert self.path is not None
        data = json.loads(self.path.read_text(encoding="utf-8"))
        with self.lock:
            self.projects = data.get("projects", {})
            self.caches.clear()
            for name, proj in self.projects.items():
                # A state file from an older emulator lacks the newer collections.
                for key, value in new_project(name).items():
                    if key.startswith("_"):
                        proj.setdefault(key, value)
            self.effects = [list(e) for e in data.get("effects", [])]
            heapq.heapify(self.effects)
            self._seq = max((e[1] for e in self.effects), default=0)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.projects)
