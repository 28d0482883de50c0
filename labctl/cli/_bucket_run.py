"""What the `labctl bucket` commands do once their options are parsed: check, act, then output.

Every input is checked by the domain before `app.storage` is touched, so a bad name is one
line and exit 2 without credentials, a client library or a request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labctl.cli import _bucket_views as bucket_views
from labctl.cli import _views as views
from labctl.cli._output import Format
from labctl.errors import InvalidInput, LabctlError, PartialFailure
from labctl.runner import Outcome

if TYPE_CHECKING:
    from labctl.buckets import BucketRequest, DeletePlan, Selector
    from labctl.cli._app import AppContext
    from labctl.models import BlobInfo
    from labctl.transfers import InFlight, Transfer, TransferPlan


def create(app: AppContext, request: BucketRequest, *, dry_run: bool) -> None:
    from labctl import buckets

    known_project = app.project or app.settings.gcp.project or None
    planned = buckets.plan(request, app.settings, now=datetime.now(UTC), project=known_project)
    if dry_run:
        app.out.info("dry run: would create this bucket (nothing sent)")
        app.out.json(bucket_views.bucket_request_record(planned.spec, planned.derived_from))
        return
    with app.out.spinner(f"Creating gs://{planned.spec.name}..."):
        result = buckets.create(app.storage, planned)
    if len(result.attempts) > 1:
        app.out.info(f"names already taken, tried: {', '.join(result.attempts[:-1])}")
    bucket_views.emit_bucket(app.out, result.bucket)
    app.out.success(f"created gs://{result.bucket.name}")
    app.out.next_step(f"labctl bucket upload PATH gs://{result.bucket.name}/")


def listing(app: AppContext, wanted: Selector, *, sizes: bool) -> None:
    from labctl import buckets

    with app.out.spinner("Listing buckets..."):
        found = buckets.select(app.storage, wanted, now=datetime.now(UTC), sizes=sizes)
    bucket_views.emit_buckets(app.out, found, sizes=sizes)
    if found:
        app.out.next_step(f"labctl bucket ls gs://{found[0].name}")
        return
    scope = " created by labctl (--all shows every bucket)" if wanted.managed_only else ""
    app.out.info(f"no buckets{scope}")
    app.out.next_step("labctl bucket create")


def delete(
    app: AppContext, names: list[str], wanted: Selector, *, force: bool, yes: bool, dry_run: bool
) -> None:
    """Count, confirm, then delete concurrently; a bucket that cannot go (missing, not empty
    without --force, refused) is one failed item and the others go on."""
    from labctl import buckets

    names = buckets.delete_targets(names, wanted)
    with app.out.spinner("Counting objects..."):
        selection = buckets.plan_delete(
            app.storage, names, wanted=wanted, force=force, now=datetime.now(UTC)
        )
    total = len(selection.plans) + len(selection.failures)
    if total > 1:
        _print_failures(app, selection.failures)
    outcomes: list[Outcome[Any]] = [
        Outcome(k, None, error=e) for k, e in selection.failures.items()
    ]
    if dry_run:
        _delete_dry_run(app, selection.plans)
    elif selection.plans:
        _confirm_delete(app, selection.plans, yes=yes)
        count = len(selection.plans)
        with app.out.progress(f"Deleting {count} bucket(s)", count) as advance:
            done = buckets.delete_many(
                app.storage, selection.plans, force=force, on_result=lambda _: advance(1)
            )
        _print_deleted(app, done, quiet_failures=total == 1)
        outcomes += done
    if not dry_run and app.out.fmt is Format.json and (selection.plans or total > 1):
        app.out.json([bucket_views.bucket_outcome_record(o) for o in outcomes])
    _raise_failures({o.key: o.error for o in outcomes if o.error is not None}, total, "deleted")
    if not dry_run and selection.plans:
        app.out.next_step("labctl bucket list")


def _delete_dry_run(app: AppContext, plans: list[DeletePlan]) -> None:
    app.out.emit(
        [bucket_views.delete_plan_record(p) for p in plans],
        ("BUCKET", "OBJECTS", "SIZE"),
        bucket_views.delete_plan_rows(plans),
    )
    app.out.info(f"dry run: would delete {len(plans)} bucket(s); nothing deleted")


def _confirm_delete(app: AppContext, plans: list[DeletePlan], *, yes: bool) -> None:
    if not yes:  # the plan is part of the question: on stderr, so stdout stays data only
        lines = [
            f"  gs://{n}: {o} object(s), {s}" for n, o, s in bucket_views.delete_plan_rows(plans)
        ]
        app.out.stderr.print("\n".join(["will delete:", *lines]), markup=False)
    objects = sum(p.objects for p in plans)
    question = f"Delete {len(plans)} bucket(s)" + (f" and {objects} object(s)?" if objects else "?")
    app.out.confirm(question, yes=yes, declined="nothing deleted")


def _print_deleted(app: AppContext, done: list[Outcome[Any]], *, quiet_failures: bool) -> None:
    for outcome in done:
        if outcome.error is None:
            app.out.success(f"deleted gs://{outcome.key}")
        elif not quiet_failures:
            _print_failures(app, {outcome.key: outcome.error})


def _print_failures(app: AppContext, failures: dict[str, LabctlError]) -> None:
    """A line (and the table's hint) per failed item: 'NAME: message'."""
    from labctl.cli._errors import render

    for key, error in failures.items():
        message, hint, _ = render(error)
        app.out.error(message if key in message else f"{key}: {message}", hint)


def _raise_failures(failed: dict[str, LabctlError], total: int, past: str) -> None:
    """The one error of a batch of one (its message, hint and exit code), or PartialFailure
    once the items' own lines were printed."""
    if not failed:
        return
    if total == 1:
        raise next(iter(failed.values()))
    raise PartialFailure(f"{len(failed)} of {total} not {past}", failed)


# -- objects -------------------------------------------------------------------------------------


def ls(app: AppContext, url: str) -> None:
    from labctl import transfers

    where = transfers.parse_gs_url(url)
    with app.out.spinner(f"Listing {where}..."):
        blobs = app.storage.list_blobs(where.bucket, where.prefix)
    bucket_views.emit_blobs(app.out, where.bucket, blobs)
    if not blobs:
        app.out.info(f"no objects under {where}")
        app.out.next_step(f"labctl bucket upload PATH {where}")
    else:
        app.out.next_step(f"labctl bucket download gs://{where.bucket}/{blobs[0].name} DEST")


def upload(app: AppContext, paths: list[str], *, workers: int) -> None:
    from labctl import transfers

    if len(paths) < 2:
        raise InvalidInput("give at least one PATH and a gs://BUCKET[/PREFIX] destination")
    dest = transfers.parse_gs_url(paths[-1])
    plan = transfers.plan_upload([Path(p) for p in paths[:-1]], dest)
    with app.out.spinner(f"Checking gs://{dest.bucket}..."):
        app.storage.get_bucket(dest.bucket)  # a missing bucket is one clear error, not N
    _transfer(app, plan, "upload", transfers.upload_one, workers=workers)
    app.out.next_step(f"labctl bucket ls {dest}")


def download(app: AppContext, paths: list[str], *, workers: int) -> None:
    from labctl import transfers

    if len(paths) < 2:
        raise InvalidInput("give at least one gs://BUCKET/OBJECT and a local DEST")
    sources = [transfers.parse_gs_url(p) for p in paths[:-1]]
    into_folder = paths[-1].endswith(("/", "\\"))  # 'dir/' always means a folder
    with app.out.spinner("Listing objects..."):
        plan = transfers.plan_download(
            app.storage, sources, Path(paths[-1]), into_folder=into_folder
        )
    in_flight = transfers.InFlight()

    def one(storage: Any, item: Transfer, progress: Callable[[int], None]) -> BlobInfo:
        return transfers.download_one(storage, item, progress, in_flight=in_flight)

    _transfer(app, plan, "download", one, workers=workers, in_flight=in_flight)


def _transfer(
    app: AppContext,
    plan: TransferPlan,
    verb: str,
    one: Callable[..., BlobInfo],
    *,
    workers: int,
    in_flight: InFlight | None = None,
) -> None:
    from labctl import transfers

    for line in plan.skipped:
        app.out.warn(line)
    total, started = sum(t.size for t in plan.items), time.monotonic()
    title = f"{verb.capitalize()}ing {len(plan.items)} file(s)"
    with app.out.progress(title, total, in_bytes=True) as advance:
        outcomes = transfers.run(
            plan,
            lambda item: one(app.storage, item, advance),
            verb=verb,
            workers=workers,
            in_flight=in_flight,
        )
    bucket_views.emit_transfers(app.out, outcomes)
    _report_transfers(app, outcomes, verb, time.monotonic() - started)


def _report_transfers(
    app: AppContext, outcomes: Sequence[Outcome[Transfer]], verb: str, elapsed: float
) -> None:
    """One summary line for what moved, a line per failure, then the batch's error."""
    done = [o for o in outcomes if o.ok]
    failed = {o.key: o.error for o in outcomes if o.error is not None}
    if done:
        size = sum(o.value.size for o in done)
        rate = views.human_bytes(int(size / max(elapsed, 1e-6)))
        app.out.success(
            f"{verb}ed {len(done)} file(s), {views.human_bytes(size)} in {elapsed:.1f}s "
            f"({rate}/s), checksums verified"
        )
    elif not outcomes:
        app.out.info(f"nothing to {verb}")
    if len(outcomes) > 1:
        _print_failures(app, failed)
    _raise_failures(failed, len(outcomes), f"{verb}ed")


# -- IAM -------------------------------------------------------------------------------------------


def access(app: AppContext, name: str, member: str, role: str, *, grant: bool) -> None:
    """Grant or revoke, show the bindings, and offer the way back for the same role."""
    from labctl import buckets

    request = buckets.access_request(name, member, role)
    with app.out.spinner(f"Updating the IAM policy of gs://{request.bucket}..."):
        change = buckets.change_access(app.storage, request, grant=grant)
    bucket_views.emit_access(app.out, change)
    where = f"gs://{request.bucket}"
    if change.changed and grant:
        app.out.success(f"granted {request.full_role} on {where} to {request.member}")
    elif change.changed:
        app.out.success(f"revoked {request.full_role} on {where} from {request.member}")
    else:
        has = "already has" if grant else "does not have"
        app.out.info(f"nothing to do: {request.member} {has} {request.full_role} on {where}")
    undo = "revoke" if grant else "grant"
    app.out.next_step(
        f"labctl bucket {undo} {request.bucket} --member {request.member} --role {request.role}"
    )
