"""Cloud hygiene for `labctl cleanup` and `labctl cost`: scan what exists (one list call per
kind), plan what to do about it (pure: tested with a fixed clock and no provider), then apply
the plan in order (instances, disks, addresses, snapshots, firewall rules, buckets), each kind
concurrently through the batch engine. Only what carries labctl's labels is ever acted on.
"""

from labctl.hygiene.apply import apply
from labctl.hygiene.model import (
    ACTION_PAST,
    KINDS,
    Finding,
    Inventory,
    LeftAlone,
    Options,
    Plan,
    PlannedSnapshot,
    Policy,
    Result,
)
from labctl.hygiene.rules import plan
from labctl.hygiene.scan import scan, survey

__all__ = [
    "ACTION_PAST",
    "KINDS",
    "Finding",
    "Inventory",
    "LeftAlone",
    "Options",
    "Plan",
    "PlannedSnapshot",
    "Policy",
    "Result",
    "apply",
    "plan",
    "scan",
    "survey",
]
