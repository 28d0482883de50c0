"""`labctl bucket`: create, list and delete buckets; upload, download and list objects; IAM."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from labctl.cli._context import Context, current
from labctl.cli._options import DryRunOpt, YesOpt, command_options
from labctl.cli._output import Format
from labctl.errors import InvalidInput, LabctlError, PartialFailure, PreconditionFailed

if TYPE_CHECKING:
    from labctl import transfers
    from labctl.models import BlobInfo, Bucket

app = typer.Typer(
    add_completion=False,  # offered once, by the root command
    help="Course buckets: create, list, delete; upload, download and list objects; grant access.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

BUCKET_COLUMNS = ("NAME", "LOCATION", "CLASS", "OWNER", "CREATED", "OBJECTS", "SIZE")
RoleOpt = Annotated[str, typer.Option("--role", help="viewer or editor (objects of the bucket).")]
MemberOpt = Annotated[
    str, typer.Option("--member", help="user:EMAIL, group:EMAIL or serviceAccount:EMAIL.")
]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, max=32, help="Files at a time.")]


def _project_hint(ctx: Context) -> str | None:
    """The project id if known without a cloud call (for the "no project id in names" rule)."""
    return ctx.opts.project or ctx.settings.gcp.project or None


@app.command()
@command_options
def create(
    name: Annotated[
        str | None, typer.Argument(help="Bucket name; default: PREFIX plus a random suffix.")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option(help="Readable start of a derived name (default: COURSE-OWNER).")
    ] = None,
    location: Annotated[
        str | None, typer.Option(help="Region, dual-region or multi-region (default: course's).")
    ] = None,
    storage_class: Annotated[str, typer.Option(help="STANDARD, NEARLINE, ...")] = "STANDARD",
    label: Annotated[
        list[str] | None,
        typer.Option("--label", metavar="KEY=VALUE", help="Extra label (repeatable)."),
    ] = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Create a bucket with labctl's labels, uniform access and public access prevention."""
    from labctl import buckets
    from labctl.labels import default_owner
    from labctl.models import region_of
    from labctl.naming import derive_bucket_name, parse_labels

    ctx = current()
    if name is not None and prefix is not None:
        raise InvalidInput("give a NAME or --prefix, not both")
    project = _project_hint(ctx)
    owner = default_owner()
    derived_from = None
    if name is None:
        derived_from = buckets.check_prefix(
            prefix or buckets.default_prefix(ctx.settings.course.name, owner), project=project
        )
        name = derive_bucket_name(derived_from)
    extra = {**ctx.settings.course.labels, **parse_labels(label or [])}
    labels = buckets.bucket_labels(
        course=ctx.settings.course.name, owner=owner, now=datetime.now(UTC), extra=extra
    )
    spec = buckets.build_spec(
        name=name,
        location=location or region_of(ctx.settings.course.zone),
        storage_class=storage_class,
        labels=labels,
        project=project,
    )
    if dry_run:
        ctx.out.info("dry run: would create this bucket (nothing sent)")
        ctx.out.json(
            {
                "name": spec.name,
                "name_derived_from": derived_from,
                "location": spec.location,
                "storage_class": spec.storage_class,
                "labels": dict(spec.labels),
                "uniform_bucket_level_access": True,
                "public_access_prevention": "enforced",
            }
        )
        return
    if project is None:  # now that a provider exists, check against the resolved project too
        buckets.check_public_name(spec.name, project=ctx.storage.project)
        if derived_from:
            buckets.check_prefix(derived_from, project=ctx.storage.project)
    with ctx.out.spinner(f"Creating gs://{spec.name}..."):
        result = buckets.create_bucket(ctx.storage, spec, derived_from=derived_from)
    if len(result.attempts) > 1:
        ctx.out.info(f"names already taken, tried: {', '.join(result.attempts[:-1])}")
    _emit_buckets(ctx, [result.bucket])
    ctx.out.success(f"created gs://{result.bucket.name}")
    ctx.out.next_step(f"labctl bucket upload PATH gs://{result.bucket.name}/")


@app.command("list")
@command_options
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Every bucket, not only labctl's.")] = False,
    sizes: Annotated[bool, typer.Option("--sizes", help="Count objects and bytes.")] = False,
) -> None:
    """List labctl's buckets (label labctl-managed=true), or every bucket with --all."""

    from labctl.labels import MANAGED

    ctx = current()
    with ctx.out.spinner("Listing buckets..."):
        found = ctx.storage.list_buckets(labels=None if all_ else {MANAGED: "true"}, sizes=sizes)
    _emit_buckets(ctx, found)
    if not found:
        ctx.out.info("no buckets found" + ("" if all_ else " (labctl's only; --all for every one)"))
        ctx.out.next_step("labctl bucket create")
    else:
        ctx.out.next_step(f"labctl bucket ls gs://{found[0].name}")


@app.command()
@command_options
def delete(
    names: Annotated[list[str], typer.Argument(help="Bucket names.")],
    force: Annotated[bool, typer.Option("--force", help="Also delete every object.")] = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Delete buckets: empty ones after confirmation, others only with --force."""
    from labctl import buckets

    ctx = current()
    with ctx.out.spinner("Counting objects..."):
        plans = buckets.plan_delete(ctx.storage, names)
    rows = [(p.bucket, p.objects, buckets.human_bytes(p.bytes)) for p in plans]
    data = [{"bucket": p.bucket, "objects": p.objects, "bytes": p.bytes} for p in plans]
    full = [p for p in plans if p.objects]
    if ctx.opts.fmt is Format.json:
        ctx.out.json(data)
    else:
        ctx.out.stderr.print("will delete:")
        ctx.out.table(("BUCKET", "OBJECTS", "SIZE"), rows)
    if full and not force:
        listing = ", ".join(f"{p.bucket} ({p.objects} objects)" for p in full)
        raise PreconditionFailed(
            f"not empty: {listing}; nothing deleted",
            hint=f"labctl bucket delete {' '.join(names)} --force",
        )
    if dry_run:
        ctx.out.info("dry run: nothing deleted")
        return
    total = sum(p.objects for p in plans)
    question = f"Delete {len(plans)} bucket(s)" + (f" and {total} object(s)?" if total else "?")
    if not yes and not typer.confirm(question, err=True):
        raise typer.Exit(1)
    failures: dict[str, LabctlError] = {}
    for plan in plans:
        try:
            with ctx.out.spinner(f"Deleting gs://{plan.bucket}..."):
                ctx.storage.delete_bucket(plan.bucket, force=force)
        except LabctlError as exc:
            failures[plan.bucket] = exc
            ctx.out.error(f"{plan.bucket}: {exc.message}", exc.hint)
        else:
            ctx.out.success(f"deleted gs://{plan.bucket}")
    if failures:
        raise PartialFailure(f"{len(failures)} of {len(plans)} failed", failures)
    ctx.out.next_step("labctl bucket list")


@app.command()
@command_options
def upload(
    paths: Annotated[
        list[str], typer.Argument(metavar="PATH... gs://BUCKET[/PREFIX]", help="What and where.")
    ],
    workers: WorkersOpt = 4,
) -> None:
    """Upload files and folders (recursively); large files in resumable chunks."""
    from labctl import transfers

    ctx = current()
    if len(paths) < 2:
        raise InvalidInput("give at least one PATH and a gs://BUCKET[/PREFIX] destination")
    dest = transfers.parse_gs_url(paths[-1])
    plan = transfers.plan_upload([Path(p) for p in paths[:-1]], dest)
    with ctx.out.spinner(f"Checking gs://{dest.bucket}..."):
        ctx.storage.get_bucket(dest.bucket)  # a missing bucket is one clear error, not N
    done = _transfer(ctx, plan, "Uploading", transfers.upload_one, workers)
    _emit_blobs(ctx, dest.bucket, done)
    ctx.out.next_step(f"labctl bucket ls {dest}")


@app.command()
@command_options
def download(
    paths: Annotated[
        list[str], typer.Argument(metavar="gs://BUCKET/OBJECT... DEST", help="What and where.")
    ],
    workers: WorkersOpt = 4,
) -> None:
    """Download objects or folders; each file appears only once complete and verified."""
    from labctl import transfers

    ctx = current()
    if len(paths) < 2:
        raise InvalidInput("give at least one gs://BUCKET/OBJECT and a local DEST")
    sources = [transfers.parse_gs_url(p) for p in paths[:-1]]
    with ctx.out.spinner("Listing objects..."):
        plan = transfers.plan_download(ctx.storage, sources, Path(paths[-1]))
    done = _transfer(ctx, plan, "Downloading", transfers.download_one, workers)
    _emit_blobs(ctx, sources[0].bucket, done)


@app.command("ls")
@command_options
def ls(url: Annotated[str, typer.Argument(metavar="gs://BUCKET[/PREFIX]")]) -> None:
    """List objects under a prefix (recursively)."""
    from labctl import transfers

    ctx = current()
    where = transfers.parse_gs_url(url)
    with ctx.out.spinner(f"Listing {where}..."):
        blobs = ctx.storage.list_blobs(where.bucket, where.prefix)
    _emit_blobs(ctx, where.bucket, blobs)
    if not blobs:
        ctx.out.info(f"no objects under {where}")
        ctx.out.next_step(f"labctl bucket upload PATH {where}")


@app.command()
@command_options
def grant(
    name: Annotated[str, typer.Argument(help="Bucket name.")],
    member: MemberOpt,
    role: RoleOpt = "viewer",
) -> None:
    """Give a member read (viewer) or read-write (editor) access to the bucket's objects."""
    _change_access(name, member, role, add=True)


@app.command()
@command_options
def revoke(
    name: Annotated[str, typer.Argument(help="Bucket name.")],
    member: MemberOpt,
    role: RoleOpt = "viewer",
) -> None:
    """Take a role on the bucket away from a member."""
    _change_access(name, member, role, add=False)


def _change_access(name: str, member: str, role: str, *, add: bool) -> None:
    from labctl import buckets

    ctx = current()
    full_role, principal = buckets.check_role(role), buckets.check_member(member)
    with ctx.out.spinner(f"Updating the IAM policy of gs://{name}..."):
        if add:
            changed = ctx.storage.add_bucket_member(name, full_role, principal)
        else:
            changed = ctx.storage.remove_bucket_member(name, full_role, principal)
        members = ctx.storage.bucket_members(name)
    rows = [(r, m) for r, ms in members.items() for m in ms]
    ctx.out.emit(members, ("ROLE", "MEMBER"), rows)
    verb = "granted" if add else "revoked"
    if changed:
        ctx.out.success(f"{verb} {full_role} on gs://{name} {'to' if add else 'from'} {principal}")
    else:
        ctx.out.info(f"nothing to do: {principal} {'has' if add else 'does not have'} {full_role}")
    ctx.out.next_step(f"labctl bucket {'revoke' if add else 'grant'} {name} --member {principal}")


# -- output ------------------------------------------------------------------------------------


def _emit_buckets(ctx: Context, found: Sequence[Bucket]) -> None:
    from labctl import buckets
    from labctl.labels import OWNER

    rows = [
        (
            b.name,
            b.location,
            b.storage_class,
            b.labels.get(OWNER, ""),
            b.created.strftime("%Y-%m-%d %H:%M") if b.created else "",
            "" if b.object_count is None else b.object_count,
            buckets.human_bytes(b.total_bytes),
        )
        for b in found
    ]
    ctx.out.emit([buckets.describe_bucket(b) for b in found], BUCKET_COLUMNS, rows)


def _emit_blobs(ctx: Context, bucket: str, blobs: Sequence[BlobInfo]) -> None:
    from labctl import buckets

    rows = [
        (
            f"gs://{bucket}/{b.name}",
            buckets.human_bytes(b.size),
            b.updated.strftime("%Y-%m-%d %H:%M") if b.updated else "",
        )
        for b in blobs
    ]
    data = [buckets.describe_blob(bucket, b) for b in blobs]
    ctx.out.emit(data, ("URL", "SIZE", "UPDATED"), rows)


def _transfer(
    ctx: Context,
    plan: Sequence[transfers.Transfer],
    verb: str,
    one: Callable[..., BlobInfo],
    workers: int,
) -> list[BlobInfo]:
    from labctl import buckets, transfers

    total = sum(t.size for t in plan)
    started = time.monotonic()
    with _progress(ctx, f"{verb} {len(plan)} file(s)", total) as advance:
        done = transfers.run_transfers(
            plan, lambda item: one(ctx.storage, item, advance), workers=workers
        )
    elapsed = max(time.monotonic() - started, 1e-6)
    rate = buckets.human_bytes(int(total / elapsed))
    ctx.out.success(
        f"{verb.lower().replace('ing', 'ed')} {len(done)} file(s), "
        f"{buckets.human_bytes(total)} in {elapsed:.1f}s ({rate}/s), checksums verified"
    )
    return done


@contextmanager
def _progress(ctx: Context, title: str, total: int) -> Iterator[Callable[[int], None]]:
    """A bar with bytes, rate and time left on stderr; nothing when stderr is no terminal or -q."""
    if ctx.out.verbosity < 0 or not ctx.out.stderr.is_terminal:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=ctx.out.stderr, transient=True) as bar:
        task = bar.add_task(title, total=total)
        yield lambda n: bar.advance(task, n)
