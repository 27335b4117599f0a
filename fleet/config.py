"""Configuration: defaults, then ``instance/config.py``, then ``FLEET_*`` environment variables,
then ``test_config``.

Every setting below can be overridden by an environment variable of the same name prefixed
with ``FLEET_`` (``FLEET_DATABASE_URL``, ``FLEET_DATA_DIR`` ...). Values from the environment are
parsed as JSON when they look like JSON (numbers, booleans, lists), else kept as strings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

#: Defaults; documented in README.md ("Configuration").
DEFAULTS: dict[str, object] = {
    # Where the embedded default keeps its SQLite database, APK store, keys and certificates.
    # Empty means the Flask instance folder.
    "DATA_DIR": "",
    # SQLAlchemy URL. Empty means sqlite:///<DATA_DIR>/fleet.sqlite3.
    "DATABASE_URL": "",
    # Flask session signing key. Empty means generated once and kept in <DATA_DIR>/secret_key.
    "SECRET_KEY": "",
    # Fernet key (urlsafe base64, 32 bytes) for secrets at rest (SIM PIN/PUK, tokens, SSH keys).
    # Empty means generated once and kept in <DATA_DIR>/fernet.key (mode 0600).
    "ENCRYPTION_KEY": "",
    "HOST": "127.0.0.1",
    "PORT": 8443,
    # TLS: paths to a certificate and key; empty means a self-signed pair made on first run.
    "TLS_CERT": "",
    "TLS_KEY": "",
    "WORKERS": 2,
    # Largest request body for ordinary uploads (spreadsheets, scans), bytes.
    "MAX_UPLOAD_BYTES": 20 * 1024 * 1024,
    # Largest APK upload, bytes (issue 4: default 300 MB).
    "MAX_APK_BYTES": 300 * 1024 * 1024,
    "LOGIN_RATE_LIMIT": "10 per minute",
    "RATELIMIT_STORAGE_URI": "memory://",
    "LANGUAGES": ["en", "fr", "pt", "es"],
    "DEFAULT_LOCALE": "en",
    "DEFAULT_TIMEZONE": "UTC",
    "PAGE_SIZE": 50,
    # Run the scheduler inside the server process (embedded default) or not (separate process).
    "SCHEDULER_IN_SERVER": True,
    # Asset tag format for generated tags: prefix and zero-padded width (PH-000123).
    "ASSET_TAG_PREFIX": "PH-",
    "ASSET_TAG_WIDTH": 6,
    # Cookies: HTTPS only, not readable by scripts, not sent on cross-site posts.
    "SESSION_COOKIE_SECURE": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_SECURE": True,
    "REMEMBER_COOKIE_HTTPONLY": True,
    # Default country for MSISDNs written without +CC (ISO 3166 alpha-2); empty means + required.
    "DEFAULT_REGION": "",
}


def _parse_env_value(raw: str) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def load_config(app, test_config: dict | None = None) -> None:
    """Fill ``app.config`` in order: DEFAULTS, instance/config.py, FLEET_* env, test_config.

    Derived values (database URL, data dir, keys) are resolved afterwards; see
    :func:`resolve_paths`.
    """
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    for name, raw in os.environ.items():
        if name.startswith("FLEET_") and name not in ("FLEET_TEST_DATABASE_URL",):
            app.config[name[len("FLEET_") :]] = _parse_env_value(raw)
    if test_config:
        app.config.update(test_config)
    resolve_paths(app)


def _secret_file(path: Path, make) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make())
    return path.read_text().strip()


def resolve_paths(app) -> None:
    """Resolve DATA_DIR, the SQLAlchemy URL and the keys kept on disk."""
    cfg = app.config
    data_dir = Path(cfg["DATA_DIR"] or app.instance_path).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    cfg["DATA_DIR"] = str(data_dir)
    cfg.setdefault("APK_STORE_DIR", str(data_dir / "apks"))
    cfg.setdefault("UPLOAD_DIR", str(data_dir / "uploads"))
    url = cfg["DATABASE_URL"] or f"sqlite:///{data_dir / 'fleet.sqlite3'}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    cfg["SQLALCHEMY_DATABASE_URI"] = url
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = (
        {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    )
    if not cfg["SECRET_KEY"]:
        import secrets

        cfg["SECRET_KEY"] = _secret_file(data_dir / "secret_key", lambda: secrets.token_hex(32))
    if not cfg["ENCRYPTION_KEY"]:
        from cryptography.fernet import Fernet

        cfg["ENCRYPTION_KEY"] = _secret_file(
            data_dir / "fernet.key", lambda: Fernet.generate_key().decode()
        )
    cfg["MAX_CONTENT_LENGTH"] = max(int(cfg["MAX_UPLOAD_BYTES"]), int(cfg["MAX_APK_BYTES"]))
    cfg.setdefault("WTF_CSRF_TIME_LIMIT", None)
