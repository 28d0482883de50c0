"""labctl's port forwarder vs OpenSSH's `ssh -N -L`, side by side on loopback.

Run:  /work/venv/bin/python benchmarks/tunnel.py [--rounds 5] [--size-mib 256]

Starts a private sshd and a raw TCP backend on 127.0.0.1, then two forwarders to the
backend: `ssh -N -L` (OpenSSH defaults) and labctl's `Tunnel` (in its own process, like
ssh). Each round runs every measurement on both, alternating which goes first, and the
table shows medians and labctl / OpenSSH ratios:

- throughput: one connection downloads SIZE MiB (MB/s, higher is better);
- new connection: connect, 100-byte request/response, close; p50 over 50 (ms);
- 50 at once: 50 clients connect together and each fetch 64 KiB; time for all (ms).

Targets: throughput >= 0.8x OpenSSH; new connection p50 <= 5 ms; 50 at once within 2x.
Everything binds 127.0.0.1 and is stopped by PID at the end; the run takes ~1-2 minutes.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labctl.ssh.hostkeys import KnownHosts, key_from_blob  # noqa: E402
from labctl.ssh.keys import ensure_key_pair  # noqa: E402
from tests.ssh.servers import free_port, start_sshd, stop_process, wait_for_port  # noqa: E402

ALIAS = "compute.benchmark"
IO_TIMEOUT = 60.0
CHUNK = 1 << 20


# -- backend: `SIZE\n` in, SIZE bytes out, close ----------------------------------------------


def serve_backend(port: int) -> None:
    payload = memoryview(b"x" * CHUNK)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(256)

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(IO_TIMEOUT)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            line = b""
            while not line.endswith(b"\n") and len(line) < 32:
                data = conn.recv(32)
                if not data:
                    return
                line += data
            left = int(line)
            while left > 0:
                n = min(left, CHUNK)
                conn.sendall(payload[:n])
                left -= n

    while True:  # ends when the parent kills this process
        conn, _ = lsock.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


# -- labctl forwarder in its own process (as ssh -L is) ----------------------------------------


def serve_labctl(args: argparse.Namespace) -> None:
    from labctl.ssh.commands import VmAccess, connector
    from labctl.ssh.tunnel import ForwardSpec, Tunnel

    access = VmAccess(
        vm_name="bench",
        instance_id="benchmark",
        host="127.0.0.1",
        port=args.ssh_port,
        user=args.user,
        config_dir=Path(args.config_dir),
        identity=Path(args.key),
    )
    tunnel = Tunnel(connector(access), [ForwardSpec(0, args.backend_port, "127.0.0.1")])
    bound = tunnel.start()
    print(bound[0].local_port, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    tunnel.stop()


# -- client measurements -----------------------------------------------------------------------


def fetch(port: int, size: int, buf: bytearray | None = None) -> int:
    buf = buf if buf is not None else bytearray(CHUNK)
    view = memoryview(buf)
    got = 0
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"%d\n" % size)
        while True:
            n = s.recv_into(view)
            if not n:
                break
            got += n
    if got != size:
        raise RuntimeError(f"expected {size} bytes, got {got}")
    return got


def throughput(port: int, size: int) -> float:
    buf = bytearray(4 * CHUNK)
    start = time.perf_counter()
    fetch(port, size, buf)
    return size / (time.perf_counter() - start) / 1e6


def new_connection_p50(port: int, count: int = 50) -> float:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        fetch(port, 100)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def fifty_at_once(port: int, clients: int = 50) -> float:
    barrier = threading.Barrier(clients + 1, timeout=30)
    errors: list[BaseException] = []

    def one() -> None:
        barrier.wait()
        try:
            fetch(port, 64 * 1024)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join(IO_TIMEOUT)
    elapsed = (time.perf_counter() - start) * 1e3
    if errors or any(t.is_alive() for t in threads):
        raise RuntimeError(f"{len(errors)} of {clients} connections failed: {errors[:1]}")
    return elapsed


# -- orchestration -----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--serve-backend", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-labctl", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ssh-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--backend-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--user", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--config-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_backend:
        serve_backend(args.serve_backend)
        return 0
    if args.serve_labctl:
        serve_labctl(args)
        return 0
    return run(args.rounds, args.size_mib << 20)


def run(rounds: int, size: int) -> int:
    import pwd

    user = pwd.getpwuid(os.getuid()).pw_name
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="labctl-bench-") as tmp:
        work = Path(tmp)
        key = ensure_key_pair(work / "config")
        sshd = start_sshd(work / "sshd", [key.public_openssh])
        try:
            known = KnownHosts.in_config_dir(work / "config")
            blob = sshd.host_public_keys["ssh-ed25519"]
            known.add(ALIAS, [key_from_blob("ssh-ed25519", blob)])

            backend_port = free_port()
            backend = subprocess.Popen(
                [sys.executable, __file__, "--serve-backend", str(backend_port)]
            )
            procs.append(backend)
            wait_for_port(backend_port, 10, backend)

            ssh_port = free_port()
            ssh = subprocess.Popen(
                [
                    "ssh", "-N", "-F", "/dev/null",
                    "-L", f"127.0.0.1:{ssh_port}:127.0.0.1:{backend_port}",
                    "-i", str(key.private_path),
                    "-o", f"UserKnownHostsFile={known.path}",
                    "-o", f"HostKeyAlias={ALIAS}",
                    "-o", "StrictHostKeyChecking=yes",
                    "-o", "IdentitiesOnly=yes",
                    "-o", "BatchMode=yes",
                    "-o", "ExitOnForwardFailure=yes",
                    "-p", str(sshd.port),
                    f"{user}@127.0.0.1",
                ]
            )  # fmt: skip
            procs.append(ssh)
            wait_for_port(ssh_port, 15, ssh)

            lab = subprocess.Popen(
                [
                    sys.executable, __file__, "--serve-labctl",
                    "--ssh-port", str(sshd.port), "--backend-port", str(backend_port),
                    "--user", user, "--key", str(key.private_path),
                    "--config-dir", str(work / "config"),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )  # fmt: skip
            procs.append(lab)
            assert lab.stdout is not None
            line = lab.stdout.readline()  # bounded: the child connects with a 15 s timeout
            if not line.strip():
                raise RuntimeError("labctl forwarder did not start")
            lab_port = int(line)

            contenders = {"openssh": ssh_port, "labctl": lab_port}
            tests: dict[str, Callable[[int], float]] = {
                "throughput MB/s": lambda p: throughput(p, size),
                "new connection p50 ms": new_connection_p50,
                "50 at once ms": fifty_at_once,
            }
            for port in contenders.values():  # warm up both paths once
                fetch(port, 8 << 20)
            results: dict[tuple[str, str], list[float]] = {}
            deadline = time.monotonic() + 150
            for r in range(rounds):
                order = list(contenders.items())
                if r % 2:
                    order.reverse()  # alternate who goes first
                for test, fn in tests.items():
                    for name, port in order:
                        results.setdefault((test, name), []).append(fn(port))
                print(f"round {r + 1}/{rounds} done", file=sys.stderr)
                if time.monotonic() > deadline:
                    print("time budget reached; stopping early", file=sys.stderr)
                    break
            report(results, size, rounds)
        finally:
            for proc in reversed(procs):
                if proc.stdin:
                    proc.stdin.close()
                stop_process(proc)
            sshd.stop()
    return 0


def report(results: dict[tuple[str, str], list[float]], size: int, rounds: int) -> None:
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"\nlabctl tunnel vs OpenSSH ssh -N -L, {size >> 20} MiB transfer, medians of {rounds}")
    print(f"{'metric':<24}{'OpenSSH':>12}{'labctl':>12}{'labctl/OpenSSH':>17}")
    for test in ("throughput MB/s", "new connection p50 ms", "50 at once ms"):
        o, lab = med[(test, "openssh")], med[(test, "labctl")]
        print(f"{test:<24}{o:>12.1f}{lab:>12.1f}{lab / o:>16.2f}x")
    checks = [
        (
            "throughput >= 0.8x OpenSSH",
            med[("throughput MB/s", "labctl")] >= 0.8 * med[("throughput MB/s", "openssh")],
        ),
        ("new connection p50 <= 5 ms", med[("new connection p50 ms", "labctl")] <= 5.0),
        (
            "50 at once <= 2x OpenSSH",
            med[("50 at once ms", "labctl")] <= 2 * med[("50 at once ms", "openssh")],
        ),
    ]
    for label, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")


if __name__ == "__main__":
    sys.exit(main())
