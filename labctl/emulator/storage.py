"""Cloud Storage: gcp-storage-emulator, in-process and in memory, on 127.0.0.1."""

from __future__ import annotations

from typing import Any

_START_TIMEOUT = 10.0


class StorageEmulator:
    """A thin wrapper that knows the port it actually bound (port 0 picks a free one)."""

    def __init__(self, port: int = 0) -> None:
        self.requested_port = port
        self.port: int | None = None
        self._server: Any = None

    @property
    def url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port else None

    def start(self) -> StorageEmulator:
        # Imported here: only a run with storage pays for it.
        from gcp_storage_emulator.server import create_server

        server = create_server("127.0.0.1", self.requested_port, in_memory=True)
        api = server._api  # the library's thread; its start() would wait without a timeout
        api.daemon = True
        api.start()
        if not api.is_running.wait(_START_TIMEOUT) or api._httpd is None:
            raise RuntimeError(f"storage emulator did not start on port {self.requested_port}")
        self.port = int(api._httpd.server_address[1])
        self._server = server
        return self

    def wipe(self) -> None:
        if self._server is not None:
            self._server.wipe()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
