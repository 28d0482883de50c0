"""Upload and download throughput: labctl's GcpStorage vs google.cloud.storage.transfer_manager.

Both run against gcp-storage-emulator (in memory, on 127.0.0.1) with the same files, the same
number of worker threads and the same client settings; the contenders alternate round by round
(ABBA order) and the medians and their ratio are reported. Not part of the test suite.

Rerun:  python benchmarks/transfer.py [--rounds 5] [--big 4x48] [--small 64x1] [--workers 4]
        (--big/--small are COUNTxMIB: a few large files, resumable, and many small ones)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MIB = 1024 * 1024
BUCKET = "bench-transfer"


def _files(root: Path, spec: str, stem: str) -> None:
    count, mib = (int(x) for x in spec.split("x"))
    for i in range(count):
        (root / f"{stem}-{i:03d}.bin").write_bytes(os.urandom(mib * MIB))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--big", default="4x48", help="COUNTxMIB large files (default 4x48)")
    parser.add_argument("--small", default="64x1", help="COUNTxMIB small files (default 64x1)")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    # Nothing may leave the machine: no metadata server, no credentials.
    os.environ["GCE_METADATA_HOST"] = os.environ["GCE_METADATA_IP"] = "127.0.0.1:9"
    os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    work = Path(tempfile.mkdtemp(prefix="labctl-bench-"))
    try:
        port = server._api._httpd.server_address[1]
        os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
        os.environ["CLOUDSDK_CONFIG"] = str(work / "gcloud")
        run(server, work, args)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def run(server: object, work: Path, args: argparse.Namespace) -> None:
    from google.cloud.storage import transfer_manager

    from labctl import transfers
    from labctl.models import BucketSpec
    from labctl.providers.gcp.storage import make_storage

    src = work / "src"
    src.mkdir()
    _files(src, args.big, "big")
    _files(src, args.small, "small")
    names = sorted(p.name for p in src.iterdir())
    total = sum((src / n).stat().st_size for n in names)

    storage = make_storage("demo")
    client = storage.client  # the same client (and HTTP session settings) for both contenders
    storage.create_bucket(BucketSpec(BUCKET))
    bucket = client.bucket(BUCKET)

    def labctl_up(prefix: str) -> None:
        plan = transfers.plan_upload([src / n for n in names], transfers.GsPath(BUCKET, prefix))
        done = transfers.run(
            plan, lambda t: transfers.upload_one(storage, t), verb="upload", workers=args.workers
        )
        _raise_any([o.error for o in done])

    def labctl_down(prefix: str, dest: Path) -> Path:
        plan = transfers.plan_download(storage, [transfers.GsPath(BUCKET, prefix)], dest)
        done = transfers.run(
            plan,
            lambda t: transfers.download_one(storage, t),
            verb="download",
            workers=args.workers,
        )
        _raise_any([o.error for o in done])
        return dest / prefix.rstrip("/")  # gs://b/dir/ lands in DEST/dir/, as gcloud does

    def tm_up(prefix: str) -> None:
        results = transfer_manager.upload_many_from_filenames(
            bucket,
            names,
            source_directory=str(src),
            blob_name_prefix=prefix,
            max_workers=args.workers,
            worker_type=transfer_manager.THREAD,
        )
        _raise_any(results)

    def tm_down(prefix: str, dest: Path) -> Path:
        results = transfer_manager.download_many_to_path(
            bucket,
            names,
            destination_directory=str(dest),
            blob_name_prefix=prefix,
            max_workers=args.workers,
            worker_type=transfer_manager.THREAD,
        )
        _raise_any(results)
        return dest

    contenders: dict[str, tuple[Callable[[str], None], Callable[[str, Path], Path]]] = {
        "labctl": (labctl_up, labctl_down),
        "transfer_manager": (tm_up, tm_down),
    }
    times: dict[str, dict[str, list[float]]] = {
        name: {"upload": [], "download": []} for name in contenders
    }
    print(
        f"data: {len(names)} files, {total / MIB:.0f} MiB ({args.big} + {args.small} MiB); "
        f"{args.workers} workers; {args.rounds} rounds; gcp-storage-emulator in memory",
        file=sys.stderr,
    )
    order = list(contenders)
    for rnd in range(args.rounds):
        for name in order if rnd % 2 == 0 else reversed(order):
            up, down = contenders[name]
            prefix = f"r{rnd}-{name}/"
            dest = work / f"dst-{rnd}-{name}"
            dest.mkdir()
            start = time.perf_counter()
            up(prefix)
            times[name]["upload"].append(time.perf_counter() - start)
            start = time.perf_counter()
            landed = down(prefix, dest)
            times[name]["download"].append(time.perf_counter() - start)
            _check_same(src, landed, names)
            shutil.rmtree(dest)
            _wipe_objects(server)  # keep the in-memory emulator small
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)

    print(f"\n{'':18}{'median s':>10}{'MiB/s':>9}   (per direction, {total / MIB:.0f} MiB)")
    for direction in ("upload", "download"):
        medians = {n: statistics.median(times[n][direction]) for n in contenders}
        for name, median in medians.items():
            print(f"{direction:9}{name:>17} {median:9.2f} {total / MIB / median:8.0f}")
        ratio = medians["labctl"] / medians["transfer_manager"]
        print(f"{direction:9}{'ratio labctl/tm':>17} {ratio:9.2f}  (<1: labctl faster)\n")


def _raise_any(results: list[object]) -> None:
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _check_same(src: Path, dest: Path, names: list[str]) -> None:
    got = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    if got != names:
        raise SystemExit(f"download produced {got[:3]}..., expected {names[:3]}...")
    for name in names[:1] + names[-1:]:
        if (src / name).read_bytes() != (dest / name).read_bytes():
            raise SystemExit(f"{name}: downloaded bytes differ")


def _wipe_objects(server: object) -> None:
    server.wipe(keep_buckets=True)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
