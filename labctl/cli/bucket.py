"""`labctl bucket`: create, list and delete buckets; upload, download and list objects; IAM."""

from __future__ import annotations

from typing import Annotated

import typer

from labctl.cli import _bucket_run as run
from labctl.cli._app import AppContext, shared_options
from labctl.cli._options import (
    AllOpt,
    CourseOpt,
    DryRunOpt,
    OlderThanOpt,
    OwnerOpt,
    YesOpt,
    opt,
)

# labctl.buckets is imported inside the commands: `--help` needs none of it.

app = typer.Typer(
    add_completion=False,  # offered once, by the root command
    help="Course buckets: create, list, delete; upload, download and list objects; grant access.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Bucket name.", show_default=False)]
NamesArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[NAME]...",
        help="Bucket names (or choose labctl's with --course/--owner/--older-than).",
        show_default=False,
    ),
]
CreateNameArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[NAME]",
        help="Bucket name: 3-63 of a-z, 0-9, '-' and '_' [default: PREFIX-<6 random hex>].",
        show_default=False,
    ),
]
PrefixOpt = Annotated[
    str | None,
    opt(metavar="PREFIX", help="Readable start of a derived name [default: COURSE-OWNER]."),
]
LocationOpt = Annotated[
    str | None,
    opt(
        metavar="LOCATION",
        help="Region, dual-region (nam4) or multi-region (us) [default: course.zone's region].",
    ),
]
ClassOpt = Annotated[
    str, opt(metavar="CLASS", help="STANDARD, NEARLINE, COLDLINE or ARCHIVE [default: STANDARD].")
]
LabelOpt = Annotated[
    list[str] | None, opt("--label", metavar="KEY=VALUE", help="Extra label (repeatable).")
]
SizesOpt = Annotated[bool, opt("--sizes", help="Count each bucket's objects and bytes.")]
ForceOpt = Annotated[bool, opt("--force", help="Also delete the objects of non-empty buckets.")]
RoleOpt = Annotated[
    str,
    opt(
        metavar="ROLE",
        help="viewer (read objects) or editor (read, write, delete objects) [default: viewer].",
    ),
]
MemberOpt = Annotated[
    str,
    typer.Option(
        "--member",
        metavar="MEMBER",
        help="user:EMAIL (or just EMAIL), group:EMAIL, serviceAccount:EMAIL or domain:DOMAIN.",
        show_default=False,
    ),
]
WorkersOpt = Annotated[
    int, typer.Option("--workers", metavar="N", min=1, max=32, help="Files moved at a time.")
]
UploadArgs = Annotated[
    list[str],
    typer.Argument(
        metavar="PATH... gs://BUCKET[/PREFIX]",
        help="Files and folders, then where: gs://B/dir/ puts them under dir/; one file to "
        "gs://B/name is stored as name.",
        show_default=False,
    ),
]
DownloadArgs = Annotated[
    list[str],
    typer.Argument(
        metavar="gs://BUCKET/OBJECT... DEST",
        help="Objects or folders, then where: DEST is a folder (created if missing) when it "
        "exists as one, ends with '/', or receives several sources; else the one file's name.",
        show_default=False,
    ),
]
UrlArg = Annotated[
    str, typer.Argument(metavar="gs://BUCKET[/PREFIX]", help="What to list.", show_default=False)
]


@app.command()
@shared_options()
def create(
    app: AppContext,
    name: CreateNameArg = None,
    prefix: PrefixOpt = None,
    location: LocationOpt = None,
    storage_class: ClassOpt = "STANDARD",
    label: LabelOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Create a bucket with labctl's labels, uniform access and public access prevention."""
    from labctl.buckets import BucketRequest

    request = BucketRequest(name, prefix, location, storage_class, labels=label or [])
    run.create(app, request, dry_run=dry_run)


@app.command("list")
@shared_options()
def list_(
    app: AppContext,
    course: CourseOpt = None,
    owner: OwnerOpt = None,
    all_: AllOpt = False,
    older_than: OlderThanOpt = None,
    sizes: SizesOpt = False,
) -> None:
    """List labctl's buckets (label labctl-managed=true); --all shows every bucket."""
    from labctl import buckets

    wanted = buckets.selector(course=course, owner=owner, all_=all_, older_than=older_than)
    run.listing(app, wanted, sizes=sizes)


@app.command()
@shared_options()
def delete(
    app: AppContext,
    names: NamesArg = None,
    course: CourseOpt = None,
    owner: OwnerOpt = None,
    older_than: OlderThanOpt = None,
    force: ForceOpt = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Delete buckets (asks first; --yes skips). A non-empty one goes only with --force."""
    from labctl import buckets

    wanted = buckets.selector(course=course, owner=owner, older_than=older_than)
    run.delete(app, names or [], wanted, force=force, yes=yes, dry_run=dry_run)


@app.command()
@shared_options()
def upload(
    app: AppContext,
    paths: UploadArgs,
    workers: WorkersOpt = 4,
) -> None:
    """Upload files and folders (recursively), checksums verified; big files resumable.

    In a folder, links to files or folders inside it are uploaded under their own names; links
    leading outside it, broken links and special files are skipped with a warning each.
    """
    run.upload(app, paths, workers=workers)


@app.command()
@shared_options()
def download(
    app: AppContext,
    paths: DownloadArgs,
    workers: WorkersOpt = 4,
) -> None:
    """Download objects or folders; each file appears only once complete and verified.

    gs://B/dir (or gs://B/dir/) lands in DEST/dir/. A file that exists is replaced.
    """
    run.download(app, paths, workers=workers)


@app.command("ls")
@shared_options()
def ls(
    app: AppContext,
    url: UrlArg,
) -> None:
    """List the objects under a prefix (recursively)."""
    run.ls(app, url)


ACCESS_HELP = {
    "grant": "Give a member read (viewer) or read-write (editor) access to the bucket's objects.",
    "revoke": "Take a role on the bucket's objects away from a member.",
}


def _access_command(verb: str) -> None:
    """grant and revoke take the same options and differ only in the direction."""

    def command(
        app: AppContext,
        name: NameArg,
        member: MemberOpt,
        role: RoleOpt = "viewer",
    ) -> None:
        run.access(app, name, member, role, grant=verb == "grant")

    command.__doc__ = ACCESS_HELP[verb]
    app.command(verb)(shared_options()(command))


for _verb in ACCESS_HELP:
    _access_command(_verb)
