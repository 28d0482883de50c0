"""What the `labctl vm` commands do once their options are parsed: one domain call, then output."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from labctl.cli import _views as views
from labctl.cli._errors import PAST
from labctl.cli._output import Format
from labctl.errors import InvalidInput, LabctlError, PartialFailure

if TYPE_CHECKING:
    from labctl.cli._app import AppContext
    from labctl.models import Vm, VmSpec
    from labctl.provisioning import Attempt
    from labctl.runner import Outcome
    from labctl.vm_spec import VmRequest
    from labctl.vms import Selector

# The VM's final state after each action, for `--format json` records.
FINAL_STATE = {"stop": "stopped", "start": "running", "delete": "deleted"}
MAX_NAMES_IN_HINT = 3


def create(
    app: AppContext, requests: list[VmRequest], *, user: str | None, dry_run: bool, wait: bool
) -> None:
    from labctl import access, vm_spec
    from labctl.config import config_dir

    now = datetime.now(UTC)
    settings = app.settings
    specs = [vm_spec.build_spec(r, settings, now=now) for r in requests]
    # Keys are made only once the request is valid, and never by a dry run.
    key = access.login_key(config_dir(), create=not dry_run)
    login_user = access.vm_user({}, user)
    expire_on = now + timedelta(days=settings.course.ssh_key_days)
    specs = [vm_spec.with_login(s, key, user=login_user, expire_on=expire_on) for s in specs]
    if dry_run:
        _dry_run(app, specs)
    elif len(specs) == 1:
        _create_one(app, specs[0], wait=wait)
    else:
        _create_many(app, specs, wait=wait)


def _dry_run(app: AppContext, specs: list[VmSpec]) -> None:
    from labctl import vm_create
    from labctl.pricing import load_prices

    zones = vm_create.failover_zones(app.compute, specs[0], app.settings)  # reads only
    prices = load_prices()
    spec = specs[0]
    estimate = prices.running_estimate(spec)
    request = app.compute.insert_request(spec)
    if app.out.verbosity < 1:  # the script is long; -v shows the exact body
        _elide_startup_script(request)
    summary = {
        "names": [s.name for s in specs],
        "zones_in_failover_order": zones,
        "cost_per_hour_usd": estimate.usd_per_hour,
        "prices_date": prices.date,
        "request": request,
    }
    app.out.info(f"dry run: would create {len(specs)} VM(s); nothing sent but reads")
    app.out.info(f"zones, in failover order: {', '.join(zones)}")
    app.out.info(f"estimated cost: {estimate} per VM (prices dated {prices.date})")
    app.out.json(summary)


def _elide_startup_script(request: dict[str, Any]) -> None:
    for item in (request.get("metadata") or {}).get("items") or ():
        if item.get("key") == "startup-script":
            item["value"] = f"<{len(item['value'])} characters: -v shows them>"
    if "startup_script" in request:  # the fake provider's plain form
        request["startup_script"] = "<-v shows it>"


def _create_one(app: AppContext, spec: VmSpec, *, wait: bool) -> None:
    from labctl import vm_create

    def on_attempt(attempt: Attempt) -> None:
        if attempt.outcome not in ("created", "accepted"):
            then = "; trying the next zone" if attempt.retrying else ""
            app.out.warn(f"{attempt.zone}: {attempt.outcome}{then}")

    with app.out.spinner(f"Creating {spec.name} in {spec.zone}..."):
        result = vm_create.create(app.compute, spec, app.settings, wait=wait, on_attempt=on_attempt)
    if len(result.attempts) > 1:
        tried = ", ".join(f"{a.zone} ({a.outcome})" for a in result.attempts)
        app.out.info(f"zones tried: {tried}")
    if not wait:
        app.out.success(f"{spec.name}: insert accepted in {result.zone}")
        app.out.next_step(f"labctl vm show {spec.name}")
        return
    vm = app.compute.get_vm(spec.name, result.zone)
    views.emit_vm(app.out, vm, {})
    app.out.success(f"{spec.name} is {vm.status} in {vm.zone}")
    app.out.next_step(f"labctl tunnel jupyter {spec.name}", f"labctl vm stop {spec.name}")


def _create_many(app: AppContext, specs: list[VmSpec], *, wait: bool) -> None:
    from labctl import vm_create

    with app.out.progress(f"Creating {len(specs)} VMs", len(specs)) as advance:
        outcomes = vm_create.create_many(
            app.compute, specs, app.settings, wait=wait, on_result=lambda _: advance(1)
        )
    report_outcomes(app, outcomes, "create", state="running" if wait else "accepted")
    app.out.next_step("labctl vm list")


def listing(app: AppContext, selector: Selector, *, managed_only: bool) -> None:
    from labctl import vms

    selector = replace(selector, managed_only=managed_only)
    with app.out.spinner("Listing VMs in all zones..."):
        found = vms.select(app.compute, selector, now=datetime.now(UTC)).vms
    views.emit_vms(app.out, found)
    if not found:
        scope = "" if not managed_only else " created by labctl (--all shows every VM)"
        app.out.info(f"no VMs{scope}")
        app.out.next_step("labctl vm create NAME --gpu")
    else:
        app.out.next_step(f"labctl vm show {found[0].name}")


def show(app: AppContext, name: str, zone: str | None) -> None:
    from labctl import vms
    from labctl.models import VmState

    with app.out.spinner(f"Looking up {name}..."):
        vm = vms.find_vm(app.compute, name, zone)
        details = vms.details(app.compute, vm)
    views.emit_vm(app.out, vm, details)
    if vm.state is VmState.RUNNING:
        app.out.next_step(f"labctl tunnel jupyter {name}", f"labctl vm stop {name}")
    elif vm.state is VmState.STOPPED:
        app.out.next_step(f"labctl vm start {name}", f"labctl vm delete {name}")
    else:
        app.out.next_step(f"labctl vm show {name}")


def lifecycle(
    app: AppContext, action: str, selector: Selector, *, wait: bool, yes: bool = False
) -> None:
    """stop/start/delete: select (one list call), confirm deletes, act on all, report each."""
    from labctl import vms
    from labctl.errors import NotFound

    if not selector.names and not selector.by_labels:
        raise InvalidInput(
            f"name the VMs to {action}, or choose them with --course, --owner or --older-than",
            field="NAME",
        )
    with app.out.spinner("Looking up VMs..."):
        selection = vms.select(app.compute, selector, now=datetime.now(UTC))
    failures: dict[str, LabctlError] = {}
    for name, error in selection.missing.items():
        if action == "delete" and isinstance(error, NotFound):
            app.out.warn(f"{name}: already gone")
        else:
            failures[name] = error
    outcomes: list[Outcome[Vm]] = []
    if selection.vms:
        if action == "delete" or not selector.names:
            _confirm(app, action, selection.vms, yes=yes)
        total = len(selection.vms)
        with app.out.progress(f"{action.capitalize()} {total} VM(s)", total) as advance:
            outcomes = vms.act_on_many(
                app.compute, selection.vms, action, wait=wait, on_result=lambda _: advance(1)
            )
    elif not failures:
        app.out.info(f"no VMs to {action}")
    report_outcomes(
        app, outcomes, action, state=FINAL_STATE[action] if wait else "accepted", failures=failures
    )
    _next_after(app, action, [o.key for o in outcomes if o.ok])


def _confirm(app: AppContext, action: str, targets: list[Vm], *, yes: bool) -> None:
    """Deletes, and anything chosen by selectors rather than by name, are confirmed."""
    listing = ", ".join(f"{vm.name} ({vm.zone})" for vm in targets[:10])
    more = f" and {len(targets) - 10} more" if len(targets) > 10 else ""
    disks = ""
    if action == "delete":
        disks = " and its boot disk" if len(targets) == 1 else " and their boot disks"
    question = f"{action.capitalize()} {listing}{more}{disks}?"
    app.out.confirm(question, yes=yes, declined=f"nothing {PAST[action]}")


def report_outcomes(
    app: AppContext,
    outcomes: list[Outcome[Any]],
    action: str,
    *,
    state: str,
    done: str | None = None,
    failures: dict[str, LabctlError] | None = None,
) -> None:
    """Each VM's result (a JSON list on stdout; a line each on stderr, saying `done`, by
    default the action's past tense), then one summary error if any failed. `failures` holds
    names that failed before any request (not found ...)."""
    failed = dict(failures or {})
    if done is None:
        done = PAST[action] if state != "accepted" else "accepted"
    for name, error in failed.items():
        app.out.error(f"{name}: {error.message}")
    for outcome in outcomes:
        if outcome.error is not None:
            failed[outcome.key] = outcome.error
            app.out.error(f"{outcome.key}: {outcome.error.message}")
        else:
            app.out.success(f"{outcome.key} ({getattr(outcome.item, 'zone', '')}): {done}")
    if app.out.fmt is Format.json:
        app.out.json([views.outcome_record(o, state) for o in outcomes])
    if failed:
        total = len(outcomes) + len(failures or {})
        raise PartialFailure(f"{len(failed)} of {total} could not be {PAST[action]}", failed)


def _next_after(app: AppContext, action: str, names: list[str]) -> None:
    """The next command, about the VMs acted on; a long list becomes a selector."""
    if not names:
        return
    shown = " ".join(names) if len(names) <= MAX_NAMES_IN_HINT else "--course COURSE"
    if action == "stop":
        app.out.next_step(f"labctl vm start {shown}")
    elif action == "start":
        app.out.next_step(f"labctl tunnel jupyter {names[0]}")
    else:
        app.out.next_step("labctl vm list")
