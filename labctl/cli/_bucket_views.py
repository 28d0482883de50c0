"""Buckets, objects, transfers and access as tables and JSON (conventions in _views.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from labctl.cli._output import Format, Output
from labctl.cli._views import age, error_record, human_bytes

if TYPE_CHECKING:
    from labctl.buckets import AccessChange, DeletePlan
    from labctl.models import BlobInfo, Bucket, BucketSpec
    from labctl.runner import Outcome
    from labctl.transfers import Transfer

# -- buckets and objects -------------------------------------------------------------------------
# Sizes are bytes as integers in JSON; tables show them as 2.0 KiB.

BUCKET_COLUMNS = ("NAME", "LOCATION", "CLASS", "COURSE", "OWNER", "AGE")
TRANSFER_COLUMNS = ("URL", "SIZE", "FILE")


def bucket_record(bucket: Bucket) -> dict[str, Any]:
    from labctl.labels import COURSE, OWNER

    return {
        "name": bucket.name,
        "url": f"gs://{bucket.name}",
        "location": bucket.location,
        "storage_class": bucket.storage_class,
        "course": bucket.labels.get(COURSE),
        "owner": bucket.labels.get(OWNER),
        "created": bucket.created.isoformat() if bucket.created else None,
        "objects": bucket.object_count,
        "bytes": bucket.total_bytes,
        "labels": dict(bucket.labels),
    }


def emit_buckets(out: Output, found: Sequence[Bucket], *, sizes: bool) -> None:
    """A table (OBJECTS and SIZE with sizes) or a JSON list."""
    records = [bucket_record(b) for b in found]
    now = datetime.now(UTC)
    rows = []
    for b, record in zip(found, records, strict=True):
        row = [b.name, b.location, b.storage_class, record["course"] or "-", record["owner"] or "-"]
        row.append(age(b.created, now))
        if sizes:
            row += [str(b.object_count), human_bytes(b.total_bytes)]
        rows.append(row)
    out.emit(records, (*BUCKET_COLUMNS, *(("OBJECTS", "SIZE") if sizes else ())), rows)


def emit_bucket(out: Output, bucket: Bucket) -> None:
    """One bucket: a FIELD/VALUE table or one JSON object."""
    record = bucket_record(bucket)
    if out.fmt is Format.json:
        out.json(record)
        return
    shown = {k: v for k, v in record.items() if k not in ("labels", "objects", "bytes")}
    shown["labels"] = ", ".join(f"{k}={v}" for k, v in sorted(bucket.labels.items()))
    out.table(("FIELD", "VALUE"), [(k, "-" if v in (None, "") else v) for k, v in shown.items()])


def bucket_request_record(spec: BucketSpec, derived_from: str | None) -> dict[str, Any]:
    """What `bucket create` would send (its dry run)."""
    return {
        "name": spec.name,
        "name_derived_from": derived_from,
        "location": spec.location,
        "storage_class": spec.storage_class,
        "labels": dict(spec.labels),
        "uniform_bucket_level_access": True,
        "public_access_prevention": "enforced",
    }


def blob_record(bucket: str, blob: BlobInfo) -> dict[str, Any]:
    return {
        "url": f"gs://{bucket}/{blob.name}",
        "name": blob.name,
        "size": blob.size,
        "crc32c": blob.crc32c,
        "md5": blob.md5,
        "updated": blob.updated.isoformat() if blob.updated else None,
    }


def emit_blobs(out: Output, bucket: str, blobs: Sequence[BlobInfo]) -> None:
    rows = [
        (
            f"gs://{bucket}/{b.name}",
            human_bytes(b.size),
            b.updated.strftime("%Y-%m-%d %H:%M") if b.updated else "-",
        )
        for b in blobs
    ]
    out.emit([blob_record(bucket, b) for b in blobs], ("URL", "SIZE", "UPDATED"), rows)


def delete_plan_record(plan: DeletePlan) -> dict[str, Any]:
    return {"name": plan.name, "objects": plan.objects, "bytes": plan.bytes}


def delete_plan_rows(plans: Sequence[DeletePlan]) -> list[tuple[str, int, str]]:
    return [(p.name, p.objects, human_bytes(p.bytes)) for p in plans]


def bucket_outcome_record(outcome: Outcome[Any]) -> dict[str, Any]:
    """One bucket of a batch delete: its name, what went with it, and the error if it failed."""
    plan = outcome.item
    record: dict[str, Any] = {
        "name": outcome.key,
        "objects": getattr(plan, "objects", None),
        "bytes": getattr(plan, "bytes", None),
        "ok": outcome.ok,
        "state": "deleted" if outcome.ok else None,
    }
    if outcome.error is not None:
        record["error"] = error_record(outcome.error)
    return record


def transfer_record(outcome: Outcome[Transfer]) -> dict[str, Any]:
    """One file of an upload or download: where from and to, its size and checksums."""
    item, info = outcome.item, outcome.value
    record: dict[str, Any] = {
        "url": item.url if item.bucket else None,
        "file": str(item.local),
        "size": info.size if info is not None else item.size,
        "crc32c": info.crc32c if info is not None else None,
        "md5": info.md5 if info is not None else None,
        "ok": outcome.ok,
    }
    if outcome.error is not None:
        record["error"] = error_record(outcome.error)
    return record


def emit_transfers(out: Output, outcomes: Sequence[Outcome[Transfer]]) -> None:
    """Every file of a transfer as a JSON list; in a table, the files moved."""
    done = [o for o in outcomes if o.ok]
    rows = [(o.item.url, human_bytes(o.value.size), str(o.item.local)) for o in done]
    out.emit([transfer_record(o) for o in outcomes], TRANSFER_COLUMNS, rows)


def access_record(change: AccessChange) -> dict[str, Any]:
    request = change.request
    return {
        "bucket": request.bucket,
        "member": request.member,
        "role": request.role,
        "iam_role": request.full_role,
        "action": "grant" if change.granted else "revoke",
        "changed": change.changed,
        "bindings": {role: list(members) for role, members in change.members.items()},
    }


def emit_access(out: Output, change: AccessChange) -> None:
    """The bucket's bindings after a grant or revoke: ROLE/MEMBER rows or one JSON object."""
    rows = [(role, m) for role, members in change.members.items() for m in members]
    out.emit(access_record(change), ("ROLE", "MEMBER"), rows)
