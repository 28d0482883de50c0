"""Faults: latency, slow operations, stockouts, quotas, rate limits, 5xx, project set-up.

Faults come from a YAML or JSON file (``Emulator(faults_file=...)``, ``--faults FILE``), from
``Emulator.set_faults(dict)``, or from ``PUT /_emulator/faults`` (JSON body), and can be
changed while the emulator runs. Every key is optional; an empty mapping means no faults::

    latency_ms: 50            # added to every Compute request (not to /_emulator/ calls)
    operation_seconds: 2.0    # how long an operation stays PENDING/RUNNING before DONE;
                              # also how long instances spend PROVISIONING+STAGING or STOPPING
    wait_max_seconds: 2.0     # longest a zoneOperations.wait call blocks (default 2 s)
    stockouts:                # creates (and starts) that fail in their *operation*
      - zone: us-central1-c   # required
        accelerator: nvidia-tesla-p100   # optional: only VMs with this accelerator
        machine_type: n1-standard-8      # optional: only this machine type
        count: 2                         # optional: only the next 2 matching VMs
    quotas:                   # limits: synchronous 403 quotaExceeded on inserts/starts,
                              # and the limits regions.get / projects.get report
      GPUS_ALL_REGIONS: 0     # upper-case keys are global metrics (GPUS_ALL_REGIONS,
                              # CPUS_ALL_REGIONS, SNAPSHOTS, ...)
      us-central1:            # region keys hold regional metrics; any metric name works
        NVIDIA_P100_GPUS: 0   # NVIDIA_<P100|T4|V100>_GPUS, PREEMPTIBLE_NVIDIA_<..>_GPUS,
        CPUS: 24              # CPUS, PREEMPTIBLE_CPUS, INSTANCES, IN_USE_ADDRESSES,
                              # STATIC_ADDRESSES, DISKS_TOTAL_GB, ...
      "*":                    # every region not listed by name
        PREEMPTIBLE_NVIDIA_P100_GPUS: 64   # grants preemptible quota: Spot VMs use it
    rate_limit:               # the next `count` requests get 403 rateLimitExceeded
      count: 3
      methods: [POST]         # optional: only these HTTP methods count
    server_errors:            # the next `count` requests get a transient 5xx
      count: 1
      status: 503             # default 503
      methods: [POST]         # optional
      after_commit: false     # true: apply the request first, then answer 5xx (a lost
                              # response: the retry must reuse its requestId)
    snapshot_failures:        # disks whose disks.createSnapshot operation ends in an error
      - data-disk-1           # (the snapshot is left FAILED; the disk is untouched)
    default_firewall_rules: false   # new projects' default network gets none of its four
                              # default rules; or a list such as [default-allow-internal]
                              # to keep only those (default: all four, as a new project has)
    disabled_apis: [compute]  # every request to these APIs (compute, cloudbilling, storage)
                              # answers 403 accessNotConfigured / SERVICE_DISABLED
    clock_offset_seconds: 600 # the Date header of Compute's answers is this far ahead
                              # (negative: behind) of this machine's clock
    billing:                  # what GET /v1/projects/P/billingInfo reports
      enabled: false          # billing disabled (the account is closed)
      account: null           # no billing account at all (default: billingAccounts/
                              # 000000-000000-000000)

Stockouts without ``accelerator`` match any VM in the zone. The operation ends DONE with
``httpErrorStatusCode: 503`` and ``ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS``; its
``zonesAvailable`` lists the other zones of the same region that offer the accelerator (or, for
a VM without one, the other zones of the region) and are not stocked out themselves, as the
real message does ("Consider trying your request in the us-central1-f zone(s)").

Quota usage counts VMs that are not TERMINATED; a Spot VM uses the PREEMPTIBLE_ metrics where
their limit is above 0 (the default is 0: none granted) and the standard ones otherwise (see
``labctl.emulator.quotas`` for the rules and the generous defaults of the other metrics).

``default_firewall_rules`` applies when a project is first used: set it, then ``reset()`` (or
``POST /_emulator/reset``), to start a test without the ``default-allow-ssh`` rule.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

_KEYS = {
    "latency_ms",
    "operation_seconds",
    "wait_max_seconds",
    "stockouts",
    "quotas",
    "rate_limit",
    "server_errors",
    "snapshot_failures",
    "default_firewall_rules",
    "disabled_apis",
    "billing",
    "clock_offset_seconds",
}
APIS = ("compute", "cloudbilling", "storage")
DEFAULT_WAIT_MAX_SECONDS = 2.0


def load_faults_file(path: str | Path) -> dict[str, Any]:
    """Read faults from YAML (``.yaml``/``.yml``) or JSON."""
    text = Path(path).read_text(encoding="utf-8")
    if not text.strip():
        return {}
    if str(path).endswith((".yaml", ".yml")):
        import yaml  # imported here: only fault files need it

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    return data or {}


def check_faults(data: Any) -> dict[str, Any]:
    """Validate a faults mapping; raise ValueError with a readable message."""
    if not isinstance(data, dict):
        raise ValueError("faults must be a mapping")
    unknown = set(data) - _KEYS
    if unknown:
        raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
    for key in ("latency_ms", "operation_seconds", "wait_max_seconds"):
        if key in data and (not isinstance(data[key], int | float) or data[key] < 0):
            raise ValueError(f"{key} must be a non-negative number")
    stockouts = data.get("stockouts") or []
    if not isinstance(stockouts, list):
        raise ValueError("stockouts must be a list of {zone, accelerator?, ...}")
    for entry in stockouts:
        if not isinstance(entry, dict) or not entry.get("zone"):
            raise ValueError("each stockout needs a zone")
        extra = set(entry) - {"zone", "accelerator", "machine_type", "count"}
        if extra:
            raise ValueError(f"unknown stockout keys: {', '.join(sorted(extra))}")
    quotas = data.get("quotas") or {}
    if not isinstance(quotas, dict):
        raise ValueError("quotas must be a mapping")
    for key, value in quotas.items():
        if isinstance(value, dict):
            if not all(isinstance(v, int | float) for v in value.values()):
                raise ValueError(f"quota limits for {key} must be numbers")
        elif not isinstance(value, int | float):
            raise ValueError(f"quota {key} must be a number or a mapping of region metrics")
    for key in ("rate_limit", "server_errors"):
        spec = data.get(key)
        if spec is not None and (
            not isinstance(spec, dict) or not isinstance(spec.get("count", 0), int)
        ):
            raise ValueError(f"{key} must be a mapping with an integer count")
    _check_lists(data)
    return copy.deepcopy(data)


def _check_lists(data: dict[str, Any]) -> None:
    from labctl.emulator.firewalls import DEFAULT_RULES  # at call time: no import cycle

    for key in ("snapshot_failures", "disabled_apis"):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key} must be a list of names")
    unknown = set(data.get("disabled_apis") or []) - set(APIS)
    if unknown:
        raise ValueError(f"disabled_apis: unknown APIs {sorted(unknown)}; known: {list(APIS)}")
    rules = data.get("default_firewall_rules", True)
    if isinstance(rules, list):
        if not set(rules) <= set(DEFAULT_RULES):
            raise ValueError(f"default_firewall_rules: names must be among {sorted(DEFAULT_RULES)}")
    elif not isinstance(rules, bool):
        raise ValueError("default_firewall_rules must be true, false or a list of rule names")
    offset = data.get("clock_offset_seconds", 0)
    if isinstance(offset, bool) or not isinstance(offset, int | float):
        raise ValueError("clock_offset_seconds must be a number of seconds")
    billing = data.get("billing") or {}
    if not isinstance(billing, dict) or set(billing) - {"enabled", "account"}:
        raise ValueError("billing must be a mapping with enabled and/or account")
    if not isinstance(billing.get("enabled", True), bool):
        raise ValueError("billing.enabled must be true or false")


class Faults:
    """The current faults, safe to read and change from any thread."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, Any] = check_faults(data or {})

    def set(self, data: dict[str, Any]) -> None:
        checked = check_faults(data)
        with self._lock:
            self._data = checked

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._data)

    def number(self, key: str, default: float = 0.0) -> float:
        with self._lock:
            return float(self._data.get(key, default))

    @property
    def latency_seconds(self) -> float:
        return self.number("latency_ms") / 1000.0

    @property
    def clock_offset_seconds(self) -> float:
        return self.number("clock_offset_seconds")

    @property
    def operation_seconds(self) -> float:
        return self.number("operation_seconds")

    @property
    def wait_max_seconds(self) -> float:
        return self.number("wait_max_seconds", DEFAULT_WAIT_MAX_SECONDS)

    def _take(self, key: str, http_method: str) -> dict[str, Any] | None:
        """Use up one of a counted fault if it applies to this method."""
        with self._lock:
            spec = self._data.get(key)
            if not spec or int(spec.get("count", 0)) <= 0:
                return None
            methods = [m.upper() for m in spec.get("methods") or []]
            if methods and http_method.upper() not in methods:
                return None
            spec["count"] = int(spec["count"]) - 1
            return dict(spec)

    def take_rate_limit(self, http_method: str) -> bool:
        return self._take("rate_limit", http_method) is not None

    def take_server_error(self, http_method: str) -> dict[str, Any] | None:
        return self._take("server_errors", http_method)

    def stocked_out(
        self, zone: str, accelerator: str | None, machine_type: str, consume: bool = True
    ) -> bool:
        """True if a create of this shape in ``zone`` hits a stockout (uses up ``count``)."""
        with self._lock:
            for entry in self._data.get("stockouts") or []:
                if entry.get("zone") != zone:
                    continue
                if entry.get("accelerator") and entry["accelerator"] != accelerator:
                    continue
                if entry.get("machine_type") and entry["machine_type"] != machine_type:
                    continue
                if "count" in entry:
                    if int(entry["count"]) <= 0:
                        continue
                    if consume:
                        entry["count"] = int(entry["count"]) - 1
                return True
        return False

    def quota_limit(self, metric: str, region: str | None) -> float | None:
        """The configured limit for a metric (global when ``region`` is None), else None."""
        with self._lock:
            quotas = self._data.get("quotas") or {}
            if region is None:
                value = quotas.get(metric)
                return float(value) if isinstance(value, int | float) else None
            for key in (region, "*"):
                regional = quotas.get(key)
                if isinstance(regional, dict) and metric in regional:
                    return float(regional[metric])
            return None

    def quota_metrics(self, region: str | None) -> list[str]:
        """Metrics configured for ``region`` (or globally): regions.get lists them too."""
        with self._lock:
            quotas = self._data.get("quotas") or {}
            if region is None:
                return [k for k, v in quotas.items() if isinstance(v, int | float)]
            names: list[str] = []
            for key in (region, "*"):
                regional = quotas.get(key)
                if isinstance(regional, dict):
                    names += [m for m in regional if m not in names]
            return names

    def snapshot_fails(self, disk: str) -> bool:
        with self._lock:
            return disk in (self._data.get("snapshot_failures") or [])

    def default_firewall_rules(self, known: list[str]) -> list[str]:
        """Which of the default network's rules a new project gets."""
        with self._lock:
            rules = self._data.get("default_firewall_rules", True)
        if rules is True:
            return list(known)
        return [r for r in known if rules and r in rules]

    def api_disabled(self, api: str) -> bool:
        with self._lock:
            return api in (self._data.get("disabled_apis") or [])

    def billing(self) -> tuple[bool, str | None]:
        """(billing enabled, billing account name or None)."""
        with self._lock:
            spec = dict(self._data.get("billing") or {})
        account = spec.get("account", "000000-000000-000000")
        if account and not str(account).startswith("billingAccounts/"):
            account = f"billingAccounts/{account}"
        return bool(spec.get("enabled", True)) and bool(account), account or None
