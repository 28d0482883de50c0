"""Instance IAM policies: instances.getIamPolicy / setIamPolicy with etags.

A new instance has an empty policy with an etag. ``setIamPolicy`` takes a
``ZoneSetPolicyRequest`` (``policy``, plus the deprecated flattened ``bindings`` and ``etag``);
an etag that is not the current one fails with 412 ``conditionNotMet``, no etag overwrites
unconditionally (the read-modify-write contract of
https://cloud.google.com/iam/docs/policies), and every successful set changes the etag.
The policy is stored, not enforced.
"""

from __future__ import annotations

import copy
from typing import Any

from labctl.emulator import fingerprints
from labctl.emulator.api import Ctx, handler
from labctl.emulator.errors import ApiError, invalid_field
from labctl.emulator.instances import get_instance
from labctl.emulator.state import fingerprint, new_id

EMPTY_ETAG = "ACAB"  # what Compute shows for a resource whose policy was never set
_MEMBER_PREFIXES = (
    "user:",
    "serviceAccount:",
    "group:",
    "domain:",
    "principal:",
    "principalSet:",
    "deleted:",
)
_MEMBER_WORDS = ("allUsers", "allAuthenticatedUsers")


def _policy(inst: dict[str, Any]) -> dict[str, Any]:
    policy: dict[str, Any] | None = inst.get("_iamPolicy")
    if policy is None:
        policy = inst["_iamPolicy"] = {"version": 1, "etag": EMPTY_ETAG}
    return policy


def _checked_bindings(bindings: Any) -> list[dict[str, Any]]:
    out = []
    for i, binding in enumerate(bindings or []):
        role = binding.get("role") or ""
        if not role.startswith(("roles/", "projects/", "organizations/")):
            raise invalid_field(f"policy.bindings[{i}].role", role, "Role must start with roles/.")
        members = list(binding.get("members") or [])
        for member in members:
            if member not in _MEMBER_WORDS and not member.startswith(_MEMBER_PREFIXES):
                raise ApiError(
                    400, f"Invalid principal: {member}. It needs a type prefix.", "invalid"
                )
        if members:  # a binding without members is dropped, as IAM does
            out.append({**copy.deepcopy(binding), "members": members})
    return out


@handler("compute.instances.getIamPolicy")
def get_iam_policy(ctx: Ctx) -> dict[str, Any]:
    inst = get_instance(ctx.state, ctx.project, ctx.zone(), ctx.params["resource"])
    requested = ctx.query.get("optionsRequestedPolicyVersion")
    if requested not in (None, "", "0", "1", "3"):
        raise invalid_field(
            "optionsRequestedPolicyVersion", requested, "Valid versions are 0, 1 and 3."
        )
    return copy.deepcopy(_policy(inst))


@handler("compute.instances.setIamPolicy")
def set_iam_policy(ctx: Ctx) -> dict[str, Any]:
    inst = get_instance(ctx.state, ctx.project, ctx.zone(), ctx.params["resource"])
    body = ctx.body
    policy = body.get("policy") or {}
    sent_etag = policy.get("etag") or body.get("etag")
    current = _policy(inst)
    if sent_etag and not fingerprints.same(sent_etag, current["etag"]):
        raise ApiError(412, "Precondition check failed.", "conditionNotMet")
    bindings = _checked_bindings(policy.get("bindings", body.get("bindings")))
    version = int(policy.get("version") or 1)
    if version not in (1, 3):
        raise invalid_field("policy.version", version, "Valid versions are 0, 1 and 3.")
    if any(b.get("condition") for b in bindings) and version < 3:
        raise invalid_field("policy.version", version, "Conditional bindings need version 3.")
    new: dict[str, Any] = {"version": version, "etag": ""}
    if bindings:
        new["bindings"] = bindings
    if policy.get("auditConfigs"):
        new["auditConfigs"] = copy.deepcopy(policy["auditConfigs"])
    new["etag"] = fingerprint([new, new_id()])
    inst["_iamPolicy"] = new
    return copy.deepcopy(new)
