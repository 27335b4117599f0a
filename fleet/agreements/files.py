"""The agreement file store: signature PNGs and scanned paper copies under
``<DATA_DIR>/agreements/<first 2 hex>/<sha256>.<ext>``.

File names come only from the SHA-256 of the content and a type detected from the bytes, so no
user-supplied name ever reaches the filesystem. Writes go to a temporary file in the same
folder and are renamed into place when complete (atomic on POSIX), so a crash leaves no
partial file under a final name.

A file is written before the transaction that refers to it commits, so a crash (or a refused
commit) between the two leaves a complete file that no row refers to, and a crash mid-write
leaves a ``.tmp-*`` file. Neither is ever served (files are only read through their rows);
:func:`sweep` deletes them once they are older than a grace period, and :func:`put` refreshes
the modification time of a file it finds already stored, so the sweep never takes a file that a
transaction in flight is about to refer to.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Collection
from pathlib import Path

from flask import current_app

log = logging.getLogger(__name__)

#: Prefix of the files :func:`put` writes before renaming them into place.
TEMP_PREFIX = ".tmp-"
#: Prefix :func:`sweep` gives an orphan while it makes sure nobody stored it again.
TRASH_PREFIX = ".sweep-"

#: Magic numbers of the accepted scan types (file signatures: PDF 1.7 ISO 32000-1 §7.5.2
#: "%PDF-"; JPEG/JFIF SOI marker FF D8 FF; PNG signature, RFC 2083 §3.1).
MAGIC = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
)
EXTENSIONS = {ctype: ext for _magic, ctype, ext in MAGIC}


def sniff(data: bytes) -> str | None:
    """The content type of ``data`` from its first bytes (the file name is never consulted),
    or None when it is none of PDF, JPEG, PNG."""
    for magic, ctype, _ext in MAGIC:
        if data.startswith(magic):
            return ctype
    return None


def store_root() -> Path:
    """``<DATA_DIR>/agreements`` (created on demand)."""
    root = Path(current_app.config["DATA_DIR"]) / "agreements"
    root.mkdir(parents=True, exist_ok=True)
    return root


def path_for(sha256: str, content_type: str) -> Path:
    """Where the file with this SHA-256 (64 hex) and content type lives."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a SHA-256 hex digest")
    return store_root() / sha256[:2] / f"{sha256}.{EXTENSIONS[content_type]}"


def put(data: bytes, content_type: str) -> str:
    """Store ``data`` (idempotent: the same bytes land once). Returns its SHA-256 hex.

    A file already stored gets a fresh modification time (it is about to be referred to again;
    see :func:`sweep`); if the sweep took it away meanwhile it is written again."""
    digest = hashlib.sha256(data).hexdigest()
    final = path_for(digest, content_type)
    try:
        os.utime(final)
        return digest
    except FileNotFoundError:
        pass
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest


def get(sha256: str, content_type: str) -> bytes:
    """The stored bytes. Raises FileNotFoundError when missing."""
    return path_for(sha256, content_type).read_bytes()


def sweep(referenced: Collection[str], *, min_age_s: float, now: float | None = None
          ) -> list[str]:
    """Delete what crashes leave in the store: files whose SHA-256 is not in ``referenced``
    (hex digests of every signature and scan row) and ``.tmp-*`` files, when not modified for
    ``min_age_s`` seconds (the grace period protects a request between :func:`put` and its
    commit). Returns the names deleted (``<2 hex>/<name>``).

    An orphan is first renamed to a ``.sweep-`` name, then its age is checked again on the
    renamed file: a :func:`put` of the same bytes that touched it just before is undone by
    renaming it back, and one just after finds no file and writes it again."""
    root = store_root()
    now = time.time() if now is None else now
    referenced = set(referenced)
    deleted = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and len(p.name) == 2):
        for path in sorted(folder.iterdir()):
            name = path.name
            if name.startswith(TRASH_PREFIX):  # a sweep that died half-way
                path.unlink(missing_ok=True)
                continue
            orphan = name.startswith(TEMP_PREFIX) or name.split(".", 1)[0] not in referenced
            if not orphan or not _older(path, now - min_age_s):
                continue
            trash = path.with_name(TRASH_PREFIX + name)
            try:
                os.rename(path, trash)
            except FileNotFoundError:
                continue
            if _older(trash, now - min_age_s):
                trash.unlink(missing_ok=True)
                deleted.append(f"{folder.name}/{name}")
            else:  # stored again meanwhile: it is about to be referred to
                os.replace(trash, path)
    if deleted:
        log.warning("agreement file store: deleted %d files no agreement refers to: %s",
                    len(deleted), ", ".join(deleted[:20]))
    return deleted


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False
