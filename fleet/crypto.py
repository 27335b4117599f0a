"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) column type, and
SHA-256 hashing of bearer tokens.

The key is ``app.config["ENCRYPTION_KEY"]`` (generated once into ``<DATA_DIR>/fernet.key`` on the
embedded default). Losing it makes the encrypted columns unreadable: back it up with the data.
"""

from __future__ import annotations

import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import String
from sqlalchemy.types import TypeDecorator


def _fernet() -> Fernet:
    ext = current_app.extensions
    key = current_app.config["ENCRYPTION_KEY"]
    cached = ext.get("fleet_fernet")
    if cached is None or cached[0] != key:
        cached = (key, Fernet(key.encode() if isinstance(key, str) else key))
        ext["fleet_fernet"] = cached
    return cached[1]


def encrypt(text: str) -> str:
    """Encrypt ``text`` (UTF-8) to a Fernet token string."""
    return _fernet().encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """Decrypt a Fernet token string. Raises ``ValueError`` if the key does not match."""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:  # pragma: no cover - only with a wrong key
        raise ValueError("cannot decrypt a stored secret: wrong ENCRYPTION_KEY?") from exc


class EncryptedText(TypeDecorator):
    """A text column stored encrypted; Python sees plain ``str`` or ``None``."""

    impl = String(512)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value in (None, "") else encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt(value)


#: The longest lifetime a token may be given, in days (ten years): the API schemas' bound, and
#: the operations' too, so forms and the CLI cannot overflow a date either.
MAX_TOKEN_DAYS = 3650


def new_token(prefix: str = "flt") -> str:
    """A fresh bearer token: ``<prefix>_<43 urlsafe chars>`` (256 bits of randomness)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token; tokens are stored only as this digest."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
