"""File streams that hash (crc32c, md5) and report progress for what passes through them."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import IO, Any

from labctl.providers.base import Progress


def _crc32c() -> Any:
    import google_crc32c

    return google_crc32c.Checksum()


class HashingReader:
    """A read-only file that hashes and reports each byte once, even when the client seeks back
    to re-send a chunk (only bytes past the high-water mark count)."""

    def __init__(self, fh: IO[bytes], progress: Progress | None) -> None:
        self._fh = fh
        self._progress = progress
        self._crc = _crc32c()
        self._high = 0

    def read(self, size: int = -1) -> bytes:
        start = self._fh.tell()
        data = self._fh.read(size)
        end = start + len(data)
        if end > self._high:
            fresh = data[max(0, self._high - start) :]
            self._crc.update(fresh)
            self._high = end
            if self._progress is not None and fresh:
                self._progress(len(fresh))
        return data

    def complete(self, size: int) -> bool:
        """True if exactly `size` bytes were read (the file did not grow or shrink meanwhile)."""
        return self._high == size and self._fh.read(1) == b""

    def crc32c_b64(self) -> str:
        return base64.b64encode(self._crc.digest()).decode()

    def tell(self) -> int:
        return self._fh.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


class HashingWriter:
    def __init__(self, fh: IO[bytes], progress: Progress | None, *, md5: bool) -> None:
        self._fh = fh
        self._progress = progress
        self._crc = _crc32c()
        self._md5_state = hashlib.md5(usedforsecurity=False) if md5 else None
        self.size = 0

    def write(self, data: bytes) -> int:
        self._fh.write(data)
        self._crc.update(data)
        if self._md5_state is not None:
            self._md5_state.update(data)
        self.size += len(data)
        if self._progress is not None and data:
            self._progress(len(data))
        return len(data)

    def crc32c_b64(self) -> str:
        return base64.b64encode(self._crc.digest()).decode()

    def md5_b64(self) -> str:
        assert self._md5_state is not None
        return base64.b64encode(self._md5_state.digest()).decode()

    def flush(self) -> None:
        self._fh.flush()


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()
