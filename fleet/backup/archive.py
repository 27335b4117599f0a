"""The backup archive: a tar whose members are listed, with SHA-256 and size, in
``manifest.json``; ``manifest.sha256`` (the last member) holds the SHA-256 of the manifest
itself, so a damaged manifest is caught too.

Member names::

    database/fleet.sqlite3       SQLite copy (online backup API)        kind "database"
    database/fleet.pgdump        pg_dump --format=custom                kind "database"
    files/apk_store/<sha[:2]>/<sha>.apk   APK_STORE_DIR                 kind "apk"
    files/uploads/...            UPLOAD_DIR                             kind "upload"
    files/data/agreements/...    signatures and scans                   kind "agreement"
    files/data/fernet.key        Fernet key of encrypted columns        kind "key"
    files/data/secret_key        session signing key                    kind "key"
    files/data/tls/...           TLS certificate (can be regenerated)   kind "tls", optional
    files/data/...               anything else under DATA_DIR           kind "data"

Only regular files are written and accepted: a member that is a link, a device or a folder,
an absolute name or one with ``..`` makes the whole archive invalid.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from fleet.backup.database import BackupError

FORMAT = "fleet-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
MANIFEST_SHA_NAME = "manifest.sha256"
FILE_ROOTS = ("apk_store", "uploads", "data")
"""Logical roots of ``files/<root>/...``: config APK_STORE_DIR, UPLOAD_DIR, DATA_DIR."""

CHUNK = 1024 * 1024


class InvalidBackup(BackupError):
    """The archive is damaged, truncated or not a fleet backup; nothing was changed."""


@dataclass(frozen=True)
class Member:
    """One manifest entry: tar member ``name``, ``sha256`` (hex), ``size`` (bytes), ``kind``
    (database, apk, upload, agreement, key, tls, data) and whether it is ``optional``."""

    name: str
    sha256: str
    size: int
    kind: str
    optional: bool = False


class HashingReader:
    """A read-only file wrapper computing the SHA-256 and size of what is read through it and
    reporting each chunk's length to ``on_bytes``."""

    def __init__(self, raw: BinaryIO, on_bytes: Callable[[int], None] | None = None):
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0
        self.on_bytes = on_bytes

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        self.size += len(data)
        if self.on_bytes and data:
            self.on_bytes(len(data))
        return data


def valid_member_name(name: str) -> bool:
    """True for the names this format writes: ``database/<file>``, ``files/<root>/<path>``,
    the manifest and its digest; relative, no ``..``, no empty or dot parts."""
    if name in (MANIFEST_NAME, MANIFEST_SHA_NAME):
        return True
    if "\\" in name or name.startswith("/"):
        return False
    parts = PurePosixPath(name).parts
    if any(p in ("", ".", "..") for p in parts) or "/".join(parts) != name:
        return False
    if parts[0] == "database":
        return len(parts) == 2
    return parts[0] == "files" and len(parts) >= 3 and parts[1] in FILE_ROOTS


def add_stream(
    tar: tarfile.TarFile,
    name: str,
    source: BinaryIO,
    size: int,
    *,
    mtime: float,
    mode: int = 0o644,
    on_bytes=None,
) -> tuple[str, int]:
    """Append ``size`` bytes read from ``source`` as regular member ``name``; returns
    (sha256 hex, size) of the bytes written. Raises OSError when ``source`` is shorter."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), mode
    info.uname = info.gname = ""
    reader = HashingReader(source, on_bytes)
    tar.addfile(info, reader)
    return reader.digest.hexdigest(), reader.size


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, *, mtime: float) -> None:
    add_stream(tar, name, io.BytesIO(data), len(data), mtime=mtime)


def manifest_bytes(manifest: dict) -> bytes:
    return json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8") + b"\n"


def members_of(manifest: dict) -> list[Member]:
    return [Member(**m) for m in manifest["members"]]


def member_dicts(members: list[Member]) -> list[dict]:
    return [asdict(m) for m in members]


def open_archive(path: Path) -> tarfile.TarFile:
    """Open a backup for reading (plain tar, or tar.gz / tar.xz by content)."""
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise InvalidBackup(f"{path} is not a readable tar archive: {exc}") from exc


def verify(path: Path, on_bytes: Callable[[int], None] | None = None) -> dict:
    """Read the whole archive and check it against its manifest, changing nothing.

    Checks: every member is a regular file with a valid name, appears once and is listed in
    the manifest with the same size and SHA-256; every listed member is present; the manifest
    matches ``manifest.sha256``; the format is known.

    Returns the manifest (dict). Raises InvalidBackup with the reason (truncated archive,
    member whose SHA-256 differs, missing or unknown member, damaged manifest ...).
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidBackup(f"{path}: no such file")
    seen: dict[str, tuple[str, int]] = {}
    manifest_raw = manifest_sha = None
    try:
        with open_archive(path) as tar:
            for info in tar:
                name = info.name
                if not valid_member_name(name):
                    raise InvalidBackup(f"unexpected member name {name!r}: not a fleet backup")
                if not info.isreg():
                    raise InvalidBackup(f"member {name} is not a regular file")
                if name in seen:
                    raise InvalidBackup(f"member {name} appears twice")
                fh = tar.extractfile(info)
                if name in (MANIFEST_NAME, MANIFEST_SHA_NAME):
                    data = fh.read(8 * 1024 * 1024 + 1)
                    if name == MANIFEST_NAME:
                        manifest_raw = data
                    else:
                        manifest_sha = data.decode("ascii", "replace").strip()
                    seen[name] = (hashlib.sha256(data).hexdigest(), len(data))
                    continue
                reader = HashingReader(fh, on_bytes)
                while reader.read(CHUNK):
                    pass
                seen[name] = (reader.digest.hexdigest(), reader.size)
    except InvalidBackup:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise InvalidBackup(
            f"the archive is truncated or damaged ({exc}); {len(seen)} members were readable"
        ) from exc
    if manifest_raw is None:
        raise InvalidBackup(
            f"{MANIFEST_NAME} is missing: the archive is truncated or is not a fleet backup"
        )
    if manifest_sha is None:
        raise InvalidBackup(f"{MANIFEST_SHA_NAME} is missing: the archive is truncated")
    if hashlib.sha256(manifest_raw).hexdigest() != manifest_sha:
        raise InvalidBackup(
            f"{MANIFEST_NAME} does not match its SHA-256 in "
            f"{MANIFEST_SHA_NAME}: the manifest is damaged"
        )
    try:
        manifest = json.loads(manifest_raw)
        members = members_of(manifest)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidBackup(f"{MANIFEST_NAME} cannot be read: {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise InvalidBackup(
            f"unknown backup format {manifest.get('format')!r} version "
            f"{manifest.get('format_version')!r} (this fleet reads {FORMAT} "
            f"version {FORMAT_VERSION})"
        )
    listed = {m.name: m for m in members}
    for member in members:
        got = seen.get(member.name)
        if got is None:
            raise InvalidBackup(
                f"member {member.name} listed in the manifest is missing (truncated archive?)"
            )
        sha, size = got
        if size != member.size:
            raise InvalidBackup(
                f"member {member.name} has {size} bytes; the manifest says {member.size}"
            )
        if sha != member.sha256:
            raise InvalidBackup(
                f"member {member.name}: SHA-256 {sha} does not match the "
                f"manifest's {member.sha256} (the backup is corrupted)"
            )
    extra = sorted(set(seen) - set(listed) - {MANIFEST_NAME, MANIFEST_SHA_NAME})
    if extra:
        raise InvalidBackup(f"member {extra[0]} is not listed in the manifest")
    return manifest
