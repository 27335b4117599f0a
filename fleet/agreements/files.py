"""The agreement file store: signature PNGs and scanned paper copies under
``<DATA_DIR>/agreements/<first 2 hex>/<sha256>.<ext>``.

File names come only from the SHA-256 of the content and a type detected from the bytes, so no
user-supplied name ever reaches the filesystem. Writes go to a temporary file in the same
folder and are renamed into place when complete (atomic on POSIX), so a crash leaves no
partial file under a final name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from flask import current_app

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
    """Store ``data`` (idempotent: the same bytes land once). Returns its SHA-256 hex."""
    digest = hashlib.sha256(data).hexdigest()
    final = path_for(digest, content_type)
    if final.exists():
        return digest
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
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
