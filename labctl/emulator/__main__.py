"""``python -m labctl.emulator``: run the emulator in the foreground until SIGINT/SIGTERM.

It records itself in the run file (``labctl.emulator.lifecycle``) so that other processes can
see it (``emulator_status``) and stop it (``stop_emulator``); bad inputs exit 2 with one line.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import threading
import time
from types import FrameType

from labctl.emulator.emulator import Emulator
from labctl.emulator.lifecycle import EmulatorRunning

_RELOAD_SECONDS = 1.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m labctl.emulator",
        description="Local Compute Engine v1 emulator (and Cloud Storage) on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=8085, help="Compute port (0 = any free port)")
    parser.add_argument(
        "--storage-port", type=int, default=None, help="also run gcp-storage-emulator on this port"
    )
    parser.add_argument(
        "--state", default=None, help="JSON state file: loaded at start, saved on change"
    )
    parser.add_argument(
        "--faults", default=None, help="YAML/JSON faults file, reloaded when it changes"
    )
    parser.add_argument(
        "--project", default="labctl-demo", help="project id for the printed exports"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=0, help="stop after this long (0 = until signalled)"
    )
    parser.add_argument(
        "--no-run-file", action="store_true", help="do not record this emulator in the run file"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log every request (storage included)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    try:
        emu = Emulator(args.port, args.storage_port, args.state, args.faults).start()
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if not args.no_run_file:
            try:
                emu.write_run_file(args.project)
            except EmulatorRunning as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        for key, value in emu.env(args.project).items():
            print(f"export {key}={shlex.quote(value)}")
        sys.stdout.flush()
        print(f"Compute emulator on {emu.compute_url}; Ctrl-C to stop.", file=sys.stderr)
        deadline = time.monotonic() + args.max_seconds if args.max_seconds else None
        mtime = _mtime(args.faults)
        while not stop.wait(_RELOAD_SECONDS):
            if deadline is not None and time.monotonic() >= deadline:
                break
            current = _mtime(args.faults)
            if current != mtime:
                mtime = current
                try:
                    emu.reload_faults_file()
                    print("Faults reloaded.", file=sys.stderr)
                except (OSError, ValueError) as exc:
                    print(f"Faults not reloaded: {exc}", file=sys.stderr)
    finally:
        emu.stop()
    print("Emulator stopped.", file=sys.stderr)
    return 0


def _mtime(path: str | None) -> float | None:
    if not path:
        return None
    try:
        import os

        return os.stat(path).st_mtime
    except OSError:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
