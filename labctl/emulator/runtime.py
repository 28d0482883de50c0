"""Run-time limits: a RUNNING VM past its ``maxRunDuration`` / ``terminationTime`` is stopped
or deleted (``instanceTerminationAction``), as Compute does.

Checked lazily at every request (``State.tick`` runs the sweep), against the emulator's clock
and the instance's ``lastStartTimestamp``, so ``Emulator.age`` makes a VM overrun at once.
The transition is dated at the deadline, not at the request that noticed it.
See https://cloud.google.com/compute/docs/instances/limit-vm-runtime.
"""

from __future__ import annotations

from labctl.emulator.build import run_deadline
from labctl.emulator.instances import bump, mark_stopped
from labctl.emulator.state import State


def register_sweep(state: State) -> None:
    def sweep(now: float) -> None:
        for project, proj in list(state.projects.items()):
            for key in list(proj["_runLimited"]):
                inst = proj["_instances"].get(key)
                if inst is None or inst.get("status") != "RUNNING":
                    continue
                sched = inst.get("scheduling") or {}
                deadline = run_deadline(inst)
                if deadline is None or deadline > now:
                    continue
                gen = bump(inst)  # supersedes any queued transition
                if sched.get("instanceTerminationAction") == "DELETE":
                    state.handlers["instance_delete"](project, key, gen)
                else:
                    mark_stopped(state, inst, min(deadline, now))

    state.sweeps.append(sweep)
