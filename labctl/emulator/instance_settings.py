"""Instance settings: metadata, labels and tags (fingerprint-checked) and guest attributes."""

from __future__ import annotations

from typing import Any

from labctl import catalog
from labctl.emulator import fingerprints, policies
from labctl.emulator.api import Ctx, handler, to_link
from labctl.emulator.errors import ApiError, bad_request
from labctl.emulator.instances import get_instance, lifecycle_op
from labctl.emulator.state import State, fingerprint, new_id


@handler("compute.instances.setMetadata")
def set_metadata(ctx: Ctx) -> dict[str, Any]:
    inst = get_instance(ctx.state, ctx.project, ctx.zone(), ctx.params["instance"])
    fingerprints.require(
        ctx.body.get("fingerprint"), inst["metadata"]["fingerprint"], fingerprints.METADATA_CHANGED
    )
    items = list(ctx.body.get("items") or [])
    inst["metadata"] = {"kind": "compute#metadata", "items": items}
    inst["metadata"]["fingerprint"] = fingerprint([items, new_id()])
    return lifecycle_op(ctx, "setMetadata", inst)


@handler("compute.instances.setLabels")
def set_labels(ctx: Ctx) -> dict[str, Any]:
    inst = get_instance(ctx.state, ctx.project, ctx.zone(), ctx.params["instance"])
    fingerprints.require(
        ctx.body.get("labelFingerprint"), inst["labelFingerprint"], fingerprints.LABELS_CHANGED
    )
    inst["labels"] = dict(ctx.body.get("labels") or {})
    inst["labelFingerprint"] = fingerprint([inst["labels"], new_id()])
    return lifecycle_op(ctx, "setLabels", inst)


@handler("compute.instances.setTags")
def set_tags(ctx: Ctx) -> dict[str, Any]:
    inst = get_instance(ctx.state, ctx.project, ctx.zone(), ctx.params["instance"])
    fingerprints.require(
        ctx.body.get("fingerprint"), inst["tags"].get("fingerprint"), fingerprints.TAGS_CHANGED
    )
    items = list(ctx.body.get("items") or [])
    inst["tags"] = {"items": items, "fingerprint": fingerprint([items, new_id()])}
    return lifecycle_op(ctx, "setTags", inst)


@handler("compute.instances.addResourcePolicies")
def add_resource_policies(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    inst = get_instance(ctx.state, ctx.project, zone, ctx.params["instance"])
    urls = list(ctx.body.get("resourcePolicies") or [])
    inst["resourcePolicies"] = policies.resolve(
        ctx.proj, ctx.project, catalog.ZONES[zone], urls, inst.get("resourcePolicies") or []
    )
    return lifecycle_op(ctx, "addResourcePolicies", inst)


@handler("compute.instances.removeResourcePolicies")
def remove_resource_policies(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    inst = get_instance(ctx.state, ctx.project, zone, ctx.params["instance"])
    gone = {
        to_link(url, ctx.project, f"resource.resourcePolicies[{i}]")
        for i, url in enumerate(ctx.body.get("resourcePolicies") or [])
    }
    kept = [link for link in inst.get("resourcePolicies") or [] if link not in gone]
    if kept:
        inst["resourcePolicies"] = kept
    else:
        inst.pop("resourcePolicies", None)
    return lifecycle_op(ctx, "removeResourcePolicies", inst)


@handler("compute.instances.getGuestAttributes")
def get_guest_attributes(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    inst = get_instance(ctx.state, ctx.project, zone, ctx.params["instance"])
    attrs = ctx.proj["_guestAttributes"].get(f"{zone}/{inst['name']}", {})
    out: dict[str, Any] = {
        "kind": "compute#guestAttributes",
        "selfLink": f"{inst['selfLink']}/guestAttributes",
    }
    key = ctx.query.get("variableKey")
    if key:
        namespace, _, name = key.partition("/")
        if name not in attrs.get(namespace, {}):
            raise ApiError(
                404, f"The resource '{key}' of type 'Guest Attribute' was not found.", "notFound"
            )
        out.update(variableKey=key, variableValue=attrs[namespace][name])
        return out
    query_path = ctx.query.get("queryPath", "")
    namespace = query_path.split("/", 1)[0]
    items = [
        {"namespace": ns, "key": k, "value": v}
        for ns in sorted(attrs)
        if not namespace or ns == namespace
        for k, v in sorted(attrs[ns].items())
    ]
    if not items:
        raise ApiError(
            404, f"The resource '{query_path}' of type 'Guest Attribute' was not found.", "notFound"
        )
    out.update(queryPath=query_path, queryValue={"items": items})
    return out


def set_guest_attribute(
    state: State, project: str, zone: str, instance: str, path: str, value: str
) -> None:
    """What a VM does with PUT .../guest-attributes/NAMESPACE/KEY on its metadata server."""
    get_instance(state, project, zone, instance)
    namespace, _, key = path.partition("/")
    if not namespace or not key:
        raise bad_request("guest attribute path must be NAMESPACE/KEY")
    attrs = state.project(project)["_guestAttributes"].setdefault(f"{zone}/{instance}", {})
    attrs.setdefault(namespace, {})[key] = value
