"""Content-addressed APK file store.

Files live at ``<root>/<sha256[:2]>/<sha256>.apk``. An upload is streamed in chunks to a
temporary file in the store's root (same filesystem, so the final ``os.replace`` is atomic), the
SHA-256 is computed while streaming, the size limit is enforced while streaming, and the file is
fsynced and renamed into place only when complete. A reader therefore never sees a partial APK at
its final path, whatever happens to the process (SIGKILL, disk full).

Paths are only ever built from a validated lowercase hex SHA-256, never from a user-given name.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fleet.fsutil import fsync_dir

log = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
"""Bytes read per chunk when streaming from a file object (1 MiB)."""

DEFAULT_MAX_BYTES = 300 * 1024 * 1024
"""Default upload limit, 300 MiB (issue 4: "size limited (configurable, default 300 MB)")."""

TEMP_PREFIX = ".upload-"
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


class StorageError(Exception):
    """Base class for APK store errors."""


class UploadTooLarge(StorageError):
    """The upload passed ``max_bytes``; nothing was stored. ``.max_bytes`` holds the limit."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        super().__init__(f"upload is larger than the limit of {max_bytes} bytes")


class StorageFull(StorageError):
    """The disk filled up (ENOSPC/EDQUOT) while storing; nothing was stored."""


class InvalidSha256(StorageError, ValueError):
    """A SHA-256 given to the store is not 64 lowercase hex digits."""


class NotStored(StorageError, FileNotFoundError):
    """No file with that SHA-256 is in the store."""


@dataclass(frozen=True)
class StoredFile:
    """A file in the store: ``sha256`` (lowercase hex), ``size`` (bytes), ``path``.

    ``created`` is False when the same bytes were already stored (duplicate upload).
    """

    sha256: str
    size: int
    path: Path
    created: bool = True


def validate_sha256(value: str) -> str:
    """Return ``value`` if it is 64 lowercase hex digits; raise :class:`InvalidSha256` if not.

    Upper-case hex is refused, not normalised, so a file has exactly one name.
    """
    if not isinstance(value, str) or not _SHA256_RE.fullmatch(value):
        raise InvalidSha256(f"not a SHA-256 hex digest: {value!r:.80}")
    return value


def _chunks(source: BinaryIO | Iterable[bytes], chunk_size: int) -> Iterable[bytes]:
    read = getattr(source, "read", None)
    if read is not None:
        while True:
            chunk = read(chunk_size)
            if not chunk:
                return
            yield chunk
    else:
        for chunk in source:
            if chunk:
                yield chunk


class ApkStore:
    """Content-addressed store rooted at ``root`` (created if missing)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        """``<root>/<sha256[:2]>/<sha256>.apk`` for a valid digest (the file may not exist).

        Raises :class:`InvalidSha256` for anything but 64 lowercase hex digits.
        """
        sha256 = validate_sha256(sha256)
        return self.root / sha256[:2] / f"{sha256}.apk"

    def exists(self, sha256: str) -> bool:
        """True if a file with this SHA-256 is stored."""
        return self.path_for(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        """Open the stored file for binary reading. Raises :class:`NotStored`, InvalidSha256."""
        path = self.path_for(sha256)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise NotStored(f"no stored APK with SHA-256 {sha256}") from None

    def delete(self, sha256: str) -> bool:
        """Remove the stored file; return False if it was not there."""
        path = self.path_for(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        log.info("deleted stored APK %s", sha256)
        return True

    def store_stream(
        self,
        source: BinaryIO | Iterable[bytes],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        chunk_size: int = CHUNK_SIZE,
    ) -> StoredFile:
        """Stream ``source`` (a binary file object or an iterable of ``bytes``) into the store.

        Holds at most one chunk in memory. Returns :class:`StoredFile`; if the same bytes were
        already stored, the existing file is kept and returned with ``created=False``.

        Raises:
            UploadTooLarge: more than ``max_bytes`` bytes arrived (checked per chunk, before the
                chunk is written); the temporary file is removed.
            StorageFull: ENOSPC/EDQUOT while writing or syncing; the temporary file is removed.
            OSError: other I/O errors (temporary file removed too).
        """
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".part", dir=self.root)
        tmp = Path(tmp_name)
        try:
            try:
                with os.fdopen(fd, "wb") as out:
                    for chunk in _chunks(source, chunk_size):
                        size += len(chunk)
                        if size > max_bytes:
                            raise UploadTooLarge(max_bytes)
                        digest.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise StorageFull(
                        f"disk full while storing the upload in {self.root} ({size} bytes received)"
                    ) from exc
                raise
            sha256 = digest.hexdigest()
            final = self.path_for(sha256)
            if final.is_file():
                log.info("duplicate upload %s (%d bytes): keeping the stored file", sha256, size)
                tmp.unlink()
                size = final.stat().st_size
                return StoredFile(sha256=sha256, size=size, path=final, created=False)
            final.parent.mkdir(exist_ok=True)
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
            fsync_dir(final.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        log.info("stored APK %s (%d bytes)", sha256, size)
        return StoredFile(sha256=sha256, size=size, path=final, created=True)

    def store_file(self, path: Path | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> StoredFile:
        """Store a local file by streaming it (same guarantees as :meth:`store_stream`)."""
        with open(path, "rb") as fh:
            return self.store_stream(fh, max_bytes=max_bytes)

    def temp_files(self) -> list[Path]:
        """Temporary upload files left in the root (only a killed process leaves any)."""
        return sorted(self.root.glob(f"{TEMP_PREFIX}*"))

    def remove_stale_temp_files(self, min_age_s: float = 0, *, now: float | None = None) -> int:
        """Delete temporary upload files a killed process left in the root, when not written
        to for ``min_age_s`` seconds (an upload in flight writes its file each time a chunk of
        :data:`CHUNK_SIZE` arrives: every ~100 s even at 10 KB/s, so an hour's grace never
        takes it; 0: every temporary file, only when no upload can be running). Returns how
        many were deleted."""
        cutoff = (time.time() if now is None else now) - min_age_s
        count = 0
        for tmp in self.temp_files():
            try:
                if min_age_s and tmp.stat().st_mtime >= cutoff:
                    continue
                tmp.unlink()
            except FileNotFoundError:
                continue  # finished (renamed into place or removed) meanwhile
            count += 1
        if count:
            log.warning("removed %d stale temporary upload files from %s", count, self.root)
        return count
