"""`labctl vm`: create, list, show, stop, start and delete course VMs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labctl.cli import _vm_run as run
from labctl.cli._app import AppContext, shared_options
from labctl.cli._options import (
    AllOpt,
    CourseOpt,
    DryRunOpt,
    NoWaitOpt,
    OlderThanOpt,
    OwnerOpt,
    YesOpt,
    ZoneOpt,
)

# labctl.vms pulls in the configuration (pydantic) and pricing: imported inside the commands so
# `labctl --help` stays fast.

app = typer.Typer(
    add_completion=False,  # offered once, by the root command
    help="Create, list, show, stop, start and delete course VMs.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

NamesArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[NAME]...", help="VM names (or select with --course/--owner).", show_default=False
    ),
]
CreateNamesArg = Annotated[
    list[str], typer.Argument(metavar="NAME...", help="VM names: a-z, 0-9 and '-'.")
]


def _opt(*decls: str, metavar: str | None = None, help: str) -> typer.models.OptionInfo:
    return typer.Option(*decls, metavar=metavar, help=help, show_default=False)


# vm create's own flags; None means "as the course configuration says" (labctl config show).
GpuOpt = Annotated[
    bool | None, _opt("--gpu/--no-gpu", help="Attach the course GPU [default: course.gpu.enabled].")
]
GpuTypeOpt = Annotated[
    str | None, _opt(metavar="TYPE", help="Accelerator type [default: course.gpu.type].")
]
GpuCountOpt = Annotated[
    int | None, _opt(metavar="N", help="GPUs: 1, 2, 4 or 8 [default: course.gpu.count].")
]
MachineOpt = Annotated[
    str | None, _opt(metavar="TYPE", help="Machine type [default: course.machine_type].")
]
SpotOpt = Annotated[
    bool, _opt("--spot", help="Spot VM: cheap, may be stopped [default: course.provisioning].")
]
PreemptibleOpt = Annotated[bool, _opt("--preemptible", help="Legacy preemptible VM (24 h max).")]
StandardOpt = Annotated[bool, _opt("--standard", help="On-demand VM.")]
ImageFamilyOpt = Annotated[
    str | None,
    _opt(metavar="FAMILY", help="Boot image family [default: course.boot_disk.image_family]."),
]
ImageProjectOpt = Annotated[
    str | None,
    _opt(metavar="PROJECT", help="Project of the image [default: course.boot_disk.image_project]."),
]
DiskOpt = Annotated[
    int | None,
    _opt(metavar="GB", help="Boot disk, 10-65536 GB [default: course.boot_disk.size_gb]."),
]
ScriptOpt = Annotated[
    Path | None, _opt(metavar="FILE", help="Startup script [default: labctl's own].")
]
LabelOpt = Annotated[
    list[str] | None, _opt("--label", metavar="KEY=VALUE", help="Extra label (repeatable).")
]
UserOpt = Annotated[
    str | None, _opt(metavar="USER", help="Linux user on the VM [default: your login name].")
]
ExpiresOpt = Annotated[
    str | None, _opt(metavar="DATE", help="Cleanup deletes it after this day (YYYY-MM-DD).")
]
TtlOpt = Annotated[str | None, _opt(metavar="AGE", help="Expires this long from now (7d).")]
MaxRunOpt = Annotated[
    int | None, _opt(metavar="HOURS", help="Compute itself stops it after running this long.")
]
ListZoneOpt = Annotated[
    str | None, _opt("--zone", metavar="ZONE", help="Only this zone (still one API call).")
]


@app.command()
@shared_options(zone=True)
def create(
    app: AppContext,
    names: CreateNamesArg,
    gpu: GpuOpt = None,
    gpu_type: GpuTypeOpt = None,
    gpu_count: GpuCountOpt = None,
    machine_type: MachineOpt = None,
    spot: SpotOpt = False,
    preemptible: PreemptibleOpt = False,
    standard: StandardOpt = False,
    image_family: ImageFamilyOpt = None,
    image_project: ImageProjectOpt = None,
    disk_size: DiskOpt = None,
    startup_script: ScriptOpt = None,
    label: LabelOpt = None,
    user: UserOpt = None,
    expires: ExpiresOpt = None,
    ttl: TtlOpt = None,
    max_run_hours: MaxRunOpt = None,
    dry_run: DryRunOpt = False,
    no_wait: NoWaitOpt = False,
) -> None:
    """Create course VMs (n1-standard-8 + P100 spot by default), failing over on stockouts."""
    from labctl.vm_spec import VmRequest

    # The flags are named after VmRequest's fields: pass them on as they are.
    flags = {k: v for k, v in locals().items() if k in VmRequest.__dataclass_fields__}
    requests = [VmRequest(**{**flags, "name": n, "labels": label or []}) for n in names]
    run.create(app, requests, user=user, dry_run=dry_run, wait=not no_wait)


@app.command("list")
@shared_options()
def list_(
    app: AppContext,
    course: CourseOpt = None,
    owner: OwnerOpt = None,
    all_: AllOpt = False,
    older_than: OlderThanOpt = None,
    zone: ListZoneOpt = None,
) -> None:
    """List labctl's VMs in every zone (one API call); --all shows every VM of the project."""
    from labctl.vms import Selector

    wanted = Selector(zone=zone, course=course, owner=owner, older_than=older_than)
    run.listing(app, wanted, managed_only=not all_)


@app.command()
@shared_options()
def show(
    app: AppContext,
    name: Annotated[str, typer.Argument(metavar="NAME", help="VM name.")],
    zone: ZoneOpt = None,
) -> None:
    """Show one VM: state, addresses, user, idle shutdown, setup status and cost."""
    run.show(app, name, zone)


LIFECYCLE_HELP = {
    "stop": "Stop VMs: GPU and CPU billing stops, the disk (and its cost) stays.",
    "start": "Start stopped VMs.",
    "delete": "Delete VMs and their boot disks.",
}


def _lifecycle_command(action: str) -> None:
    """stop, start and delete take the same options and differ only in what they do: VMs are
    named, or chosen by --course/--owner/--older-than (then confirmed, as a delete always is)."""

    def command(
        app: AppContext,
        names: NamesArg = None,
        course: CourseOpt = None,
        owner: OwnerOpt = None,
        older_than: OlderThanOpt = None,
        yes: YesOpt = False,
        no_wait: NoWaitOpt = False,
        zone: ZoneOpt = None,
    ) -> None:
        from labctl.vms import Selector

        chosen = Selector(tuple(names or ()), zone, course, owner, not names, older_than)
        run.lifecycle(app, action, chosen, wait=not no_wait, yes=yes)

    command.__doc__ = LIFECYCLE_HELP[action] + " Asks first unless VMs are named (--yes skips)."
    if action == "delete":
        command.__doc__ = LIFECYCLE_HELP[action] + " Asks first; --yes skips the question."
    app.command(action)(shared_options()(command))


for _action in LIFECYCLE_HELP:
    _lifecycle_command(_action)
