"""Cloud Storage for the emulator: labctl's bucket layer over gcp-storage-emulator, on 127.0.0.1."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from labctl.emulator.inputs import check_port

log = logging.getLogger(__name__)

_STOP_TIMEOUT = 5.0
# gcp-storage-emulator logs every request at INFO and warns on every text response.
LIBRARY_LOGGERS = ("gcp_storage_emulator", "api.bucket", "api.object")


class StorageEmulator:
    """The Cloud Storage JSON API in memory on ``127.0.0.1:port`` (0 picks a free port).

    Buckets (settings kept at create, ``project``/``prefix`` listing, patch semantics), bucket
    IAM (etags, 412 on a stale one) and JSON error bodies are labctl's (``storage_buckets``,
    ``storage_http``); objects (uploads, downloads, listing, batch) are gcp-storage-emulator's.
    Point clients at ``url`` with ``STORAGE_EMULATOR_HOST``. Its logs stay quiet unless
    ``verbose`` (default: when this module's logger is enabled for DEBUG). While ``disabled()``
    is true every request answers 403 SERVICE_DISABLED, as an API not enabled in the project
    (the Emulator ties it to its ``disabled_apis: [storage]`` fault).
    """

    def __init__(
        self,
        port: int = 0,
        *,
        verbose: bool | None = None,
        disabled: Callable[[], bool] | None = None,
    ) -> None:
        self.requested_port = check_port(port, "storage port")
        self.verbose = verbose
        self.disabled = disabled or (lambda: False)
        self.port: int | None = None
        self._storage: Any = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port else None

    def start(self) -> StorageEmulator:
        if self._server is not None:
            return self
        # Imported here: only a run with storage pays for them.
        from gcp_storage_emulator.storage import Storage

        from labctl.emulator.storage_http import make_storage_server

        quiet_library_logs(self.verbose)
        storage = Storage(use_memory_fs=True)
        # In memory, the library still re-serialises every bucket, object and policy into an
        # in-memory ".meta" file after each change, and reads it back only when constructed:
        # O(buckets) per write, quadratic for a class of 1,000 (most of the emulator's CPU).
        storage._write_config_to_file = lambda: None
        try:
            server = make_storage_server(
                storage, self.requested_port, self._lock, lambda: self.disabled()
            )
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, f"127.0.0.1:{self.requested_port}") from None
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="labctl-storage-emulator",
            daemon=True,
        )
        self._thread.start()
        self._storage, self._server = storage, server
        self.port = int(server.server_address[1])
        log.info("storage emulator on %s", self.url)
        return self

    def wipe(self, keep_buckets: bool = False) -> None:
        """Delete every object, and every bucket and policy unless ``keep_buckets``."""
        if self._storage is not None:
            with self._lock:
                self._storage.wipe(keep_buckets=keep_buckets)

    def objects(self, bucket: str) -> dict[str, dict[str, Any]]:
        """The stored metadata of a bucket's objects, by name.

        The inner dicts are the live records: changing one (a checksum, say) changes what the
        server returns, which is how tests simulate a damaged object.
        """
        if self._storage is None:
            return {}
        with self._lock:
            return dict(self._storage.objects.get(bucket, {}))

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(_STOP_TIMEOUT)
            self._thread = None
        self._storage = None
        self.port = None

    def __enter__(self) -> StorageEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def quiet_library_logs(verbose: bool | None = None) -> None:
    """Silence gcp-storage-emulator's loggers unless verbose (None: follow this module's level)."""
    if verbose is None:
        verbose = log.isEnabledFor(logging.DEBUG)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.CRITICAL)
