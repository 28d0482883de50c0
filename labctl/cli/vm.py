"""`labctl vm`: create, list, show, stop, start and delete course VMs."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from labctl.cli._context import Context, current
from labctl.cli._options import DryRunOpt, YesOpt, command_options
from labctl.cli._output import Format
from labctl.errors import InvalidInput, LabctlError, NotFound, PartialFailure

if TYPE_CHECKING:
    from labctl.models import Vm

# labctl.vms pulls in the configuration (pydantic) and pricing: imported inside the commands so
# `labctl --help` stays fast.

app = typer.Typer(
    add_completion=False,  # offered once, by the root command
    help="Create, list, stop, start and delete course VMs.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

VM_COLUMNS = ("NAME", "ZONE", "STATUS", "MACHINE", "GPU", "MODEL", "EXTERNAL IP", "AGE", "COST")


@app.command()
@command_options
def create(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="VM name: lowercase letters, digits, '-'.")
    ],
    gpu: Annotated[
        bool | None, typer.Option("--gpu/--no-gpu", help="Attach the course GPU.")
    ] = None,
    gpu_type: Annotated[str | None, typer.Option(help="Accelerator type.")] = None,
    gpu_count: Annotated[int | None, typer.Option(help="GPUs to attach.")] = None,
    machine_type: Annotated[str | None, typer.Option(help="Machine type.")] = None,
    spot: Annotated[bool, typer.Option("--spot", help="Spot VM (cheap, may stop).")] = False,
    preemptible: Annotated[
        bool, typer.Option("--preemptible", help="Legacy preemptible VM (24 h max).")
    ] = False,
    standard: Annotated[bool, typer.Option("--standard", help="On-demand VM.")] = False,
    image_family: Annotated[str | None, typer.Option(help="Boot image family.")] = None,
    image_project: Annotated[str | None, typer.Option(help="Project of the image.")] = None,
    disk_size: Annotated[int | None, typer.Option(help="Boot disk size in GB.")] = None,
    startup_script: Annotated[
        Path | None, typer.Option(help="Startup script (default: labctl's).", dir_okay=False)
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", metavar="KEY=VALUE", help="Extra label (repeatable)."),
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="Linux user on the VM (default: your login name).")
    ] = None,
    dry_run: DryRunOpt = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once accepted.")] = False,
) -> None:
    """Create a course VM (n1-standard-8 + P100 spot by default), failing over on stockouts."""
    from labctl.vms import VmRequest, build_spec

    ctx = current()
    now = datetime.now(UTC)
    request = VmRequest(
        name=name,
        gpu=gpu,
        gpu_type=gpu_type,
        gpu_count=gpu_count,
        machine_type=machine_type,
        spot=spot,
        preemptible=preemptible,
        standard=standard,
        image_family=image_family,
        image_project=image_project,
        disk_size=disk_size,
        startup_script=startup_script,
        labels=label or [],
    )
    spec = build_spec(request, ctx.settings, now=now)
    # The key is made only once the request is known to be valid (and paramiko loaded only then).
    ssh = _ssh_metadata(user, now + timedelta(days=ctx.settings.course.ssh_key_days))
    spec = replace(spec, metadata={**spec.metadata, **ssh})
    if dry_run:
        from labctl.providers.gcp._build import build_instance, instance_to_json

        project = ctx.opts.project or ctx.settings.gcp.project or "PROJECT_ID"
        ctx.out.info(f"dry run: would insert this instance in {spec.zone} (nothing sent)")
        ctx.out.json(instance_to_json(build_instance(spec, project)))
        return

    from labctl.provisioning import create_with_failover

    def report(attempt: Any) -> None:
        if attempt.outcome != "created":
            ctx.out.warn(f"{attempt.zone}: {attempt.outcome}; trying the next zone")

    with ctx.out.spinner(f"Creating {name} in {spec.zone}..."):
        result = create_with_failover(
            ctx.compute,
            spec,
            allowed_zones=ctx.settings.allowed_zones,
            wait=not no_wait,
            on_attempt=report,
        )
    if len(result.attempts) > 1:
        tried = ", ".join(f"{a.zone} ({a.outcome})" for a in result.attempts)
        ctx.out.info(f"zones tried: {tried}")
    if no_wait:
        ctx.out.success(f"{name}: insert accepted in {result.zone}")
    else:
        vm = ctx.compute.get_vm(name, result.zone)
        _emit_vms(ctx, [vm])
        ctx.out.success(f"{name} is {vm.status} in {vm.zone}")
    ctx.out.next_step(f"labctl tunnel jupyter {name}", f"labctl vm stop {name}")


def _ssh_metadata(user: str | None, expire_on: datetime) -> dict[str, str]:
    """labctl's public key for the VM user, and only instance keys (classmates' project keys
    must not open each other's VMs). The startup script runs Jupyter as the same user, so the
    tunnel can find its token."""
    from labctl.config import config_dir
    from labctl.ssh.commands import ssh_key_add
    from labctl.ssh.keys import default_username, validate_username

    user = validate_username(user) if user else default_username()
    keys = ssh_key_add("", user=user, config_dir=config_dir(), expire_on=expire_on)
    return {"ssh-keys": keys, "block-project-ssh-keys": "TRUE", "labctl-user": user}


@app.command("list")
@command_options
def list_(
    course: Annotated[str | None, typer.Option(help="Only VMs of this course.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only VMs of this owner.")] = None,
    managed: Annotated[bool, typer.Option("--managed", help="Only VMs labctl created.")] = False,
) -> None:
    """List VMs in every zone (one API call)."""
    from labctl.labels import COURSE, MANAGED, OWNER

    ctx = current()
    labels = {
        key: value
        for key, value in ((MANAGED, "true" if managed else None), (COURSE, course), (OWNER, owner))
        if value
    }
    with ctx.out.spinner("Listing VMs in all zones..."):
        vms = ctx.compute.list_vms(labels=labels or None)
    if ctx.opts.zone:  # still one call for every zone; --zone only narrows what is shown
        vms = [vm for vm in vms if vm.zone == ctx.opts.zone]
    _emit_vms(ctx, vms)
    if not vms:
        ctx.out.info("no VMs found")
        ctx.out.next_step("labctl vm create NAME --gpu")
    else:
        ctx.out.next_step(f"labctl vm show {vms[0].name}")


@app.command()
@command_options
def show(name: Annotated[str, typer.Argument(help="VM name.")]) -> None:
    """Show one VM in detail."""
    from labctl.vms import describe_vm, find_vm

    ctx = current()
    with ctx.out.spinner(f"Looking up {name}..."):
        vm = find_vm(ctx.compute, name, ctx.opts.zone)
    if ctx.out.fmt == "json":
        ctx.out.json(describe_vm(vm))
    else:
        fields = describe_vm(vm)
        fields["labels"] = ", ".join(f"{k}={v}" for k, v in sorted(vm.labels.items()))
        ctx.out.table(("FIELD", "VALUE"), [(k, "-" if v is None else v) for k, v in fields.items()])
    ctx.out.next_step(f"labctl tunnel jupyter {name}", f"labctl vm stop {name}")


@app.command()
@command_options
def stop(names: Annotated[list[str], typer.Argument(help="VM names.")]) -> None:
    """Stop VMs (the disk is kept; GPU and CPU billing stops)."""
    ctx = current()
    _for_each_vm(ctx, names, "stopped", lambda vm: ctx.compute.stop_vm(vm.name, vm.zone))
    ctx.out.next_step(f"labctl vm start {' '.join(names)}")


@app.command()
@command_options
def start(names: Annotated[list[str], typer.Argument(help="VM names.")]) -> None:
    """Start stopped VMs."""
    ctx = current()
    _for_each_vm(ctx, names, "started", lambda vm: ctx.compute.start_vm(vm.name, vm.zone))
    ctx.out.next_step(f"labctl tunnel jupyter {names[0]}")


@app.command()
@command_options
def delete(
    names: Annotated[list[str], typer.Argument(help="VM names.")], yes: YesOpt = False
) -> None:
    """Delete VMs and their boot disks (asks first; --yes skips the question)."""
    ctx = current()

    def confirm(vms: list[Vm]) -> bool:
        listing = ", ".join(f"{vm.name} ({vm.zone})" for vm in vms)
        return yes or typer.confirm(f"Delete {listing} and their boot disks?", err=True)

    _for_each_vm(
        ctx,
        names,
        "deleted",
        lambda vm: ctx.compute.delete_vm(vm.name, vm.zone),
        confirm=confirm,
        gone_ok=True,
    )
    ctx.out.next_step("labctl vm list")


def _emit_vms(ctx: Context, vms: list[Vm]) -> None:
    from labctl.pricing import load_prices
    from labctl.vms import describe_vm, vm_row

    prices = load_prices()
    now = datetime.now(UTC)
    rows = [vm_row(vm, prices, now) for vm in vms]
    if vms and ctx.out.fmt is Format.table:
        ctx.out.info(f"COST: estimated per hour from prices dated {prices.date} (~ approximate)")
    ctx.out.emit(
        [
            {**describe_vm(vm), "cost_per_hour": row[-1], "prices_date": prices.date}
            for vm, row in zip(vms, rows, strict=True)
        ],
        VM_COLUMNS,
        rows,
    )


def _for_each_vm(
    ctx: Context,
    names: list[str],
    verb: str,
    action: Callable[[Vm], None],
    *,
    confirm: Callable[[list[Vm]], bool] | None = None,
    gone_ok: bool = False,
) -> None:
    """Resolve every name with one list call, act on all concurrently, report failures together."""
    from labctl.vms import find_vm

    zone = ctx.opts.zone
    with ctx.out.spinner("Looking up VMs..."):
        everything = ctx.compute.list_vms()
    targets: list[Vm] = []
    failures: dict[str, LabctlError] = {}
    for name in dict.fromkeys(names):
        try:
            targets.append(find_vm(ctx.compute, name, zone, known=everything))
        except NotFound as exc:
            if gone_ok:
                ctx.out.warn(f"{name}: already gone")
            else:
                failures[name] = exc
        except InvalidInput as exc:
            failures[name] = exc
    if targets and confirm is not None and not confirm(targets):
        raise typer.Exit(1)

    def run(vm: Vm) -> tuple[Vm, LabctlError | None]:
        try:
            action(vm)
        except NotFound as exc:
            if gone_ok:
                return vm, None
            return vm, exc
        except LabctlError as exc:
            return vm, exc
        return vm, None

    with (
        ctx.out.spinner(f"{verb.capitalize()} {len(targets)} VM(s)..."),
        ThreadPoolExecutor(max_workers=min(16, max(1, len(targets)))) as pool,
    ):
        for vm, error in pool.map(run, targets):
            if error is None:
                ctx.out.success(f"{vm.name} ({vm.zone}): {verb}")
            else:
                failures[vm.name] = error
    if failures:
        for name, error in failures.items():
            ctx.out.error(f"{name}: {error.message}", error.hint)
        raise PartialFailure(f"{len(failures)} of {len(dict.fromkeys(names))} failed", failures)
