"""The database part of a backup: SQLite through the online backup API, PostgreSQL through
``pg_dump --format=custom`` and ``pg_restore`` (Debian package ``postgresql-client``).

SQLite: :meth:`sqlite3.Connection.backup` with ``pages=-1`` copies the whole database in one
step, inside one read transaction, so the copy is a consistent snapshot even while the server
keeps writing (in WAL mode readers do not block writers; a step-wise copy would restart every
time another connection writes, Python docs ``sqlite3.Connection.backup``, SQLite "Online
Backup API" ``sqlite3_backup_step``).

PostgreSQL: ``pg_dump`` runs in one serializable, read-only transaction (PostgreSQL docs,
``pg_dump``: "consistent even if the database is being used concurrently"). The password goes
to the tools through ``PGPASSWORD``, never on the command line.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url

from fleet.fsutil import fsync_dir

PG_PACKAGE = "postgresql-client"
"""Debian package that ships ``pg_dump`` and ``pg_restore``."""


class BackupError(Exception):
    """A backup or restore refused or failed; ``str(exc)`` is the message for the user."""


class ToolMissing(BackupError):
    """A command-line tool the backup needs (pg_dump, pg_restore) is not installed."""


def dialect_of(url: str) -> str:
    """``"sqlite"`` or ``"postgresql"`` for a SQLAlchemy URL; BackupError for anything else."""
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"backups support SQLite and PostgreSQL, not {name}")
    return name


def sqlite_file(url: str) -> Path:
    """The database file of a SQLite URL. BackupError for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database).resolve()


def sqlite_side_files(path: Path) -> list[Path]:
    """The journal files SQLite keeps beside ``path`` (-wal, -shm, -journal)."""
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def dump_sqlite(source: Path, dest: Path) -> list[str]:
    """Copy the SQLite database ``source`` to ``dest`` with the online backup API (one step:
    a consistent snapshot while others write), switch the copy to a rollback journal so it is
    a single self-contained file, and check it (``PRAGMA quick_check``).

    Returns the Alembic revisions recorded in the copy (``alembic_version.version_num``).
    Raises BackupError when ``source`` does not exist or the copy fails its check.
    """
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)  # pages=-1: all pages in one step, one read transaction
            dst.execute("PRAGMA journal_mode=DELETE")
            check = dst.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"the copy of {source} fails PRAGMA quick_check: {check}")
            return _sqlite_revisions(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _sqlite_revisions(conn: sqlite3.Connection) -> list[str]:
    try:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.OperationalError:
        return []
    return sorted(r[0] for r in rows)


def check_sqlite_file(path: Path) -> None:
    """Raise BackupError unless ``path`` is a readable SQLite database passing quick_check."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the backed-up SQLite database is not readable: {exc}") from exc
    if check != "ok":
        raise BackupError(f"the backed-up SQLite database fails PRAGMA quick_check: {check}")


def restore_sqlite(staged: Path, target: Path) -> None:
    """Put the staged database file in place of ``target`` (atomic rename; same folder).

    The target's -wal/-shm files are removed first: SQLite would otherwise replay a stale
    write-ahead log onto the restored file. Every connection to ``target`` must be closed
    (stop the server; dispose the engine)."""
    for side in sqlite_side_files(target):
        side.unlink(missing_ok=True)
    os.replace(staged, target)
    fsync_dir(target.parent)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(
            f"{name} is not installed; it comes with the Debian package "
            f"{PG_PACKAGE} (apt-get install {PG_PACKAGE})"
        )
    return path


def require_pg_tools(*names: str) -> None:
    """Raise ToolMissing naming the Debian package when one of the tools is missing."""
    for name in names:
        _tool(name)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and the environment carrying it."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    uri = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise BackupError(f"{what} failed (exit status {proc.returncode}): {detail}")


def dump_postgresql(url: str, dest: Path) -> None:
    """``pg_dump --format=custom`` of the database at ``url`` into ``dest``.

    Raises ToolMissing (no pg_dump), BackupError (pg_dump failed, with its message, e.g. a
    server newer than the client)."""
    uri, env = _libpq(url)
    _run(
        [_tool("pg_dump"), "--format=custom", "--no-password", f"--file={dest}", f"--dbname={uri}"],
        env,
        "pg_dump",
    )


def alembic_revisions(engine: Engine) -> list[str]:
    """Rows of ``alembic_version`` (sorted), [] when the table does not exist."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return []
        return sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def table_counts(engine: Engine) -> dict[str, int]:
    """``{table: row count}`` for every table of the database's default schema."""
    with engine.connect() as conn:
        names = inspect(conn).get_table_names()
        quote = conn.dialect.identifier_preparer.quote
        return {
            name: conn.execute(text(f"SELECT count(*) FROM {quote(name)}")).scalar_one()
            for name in sorted(names)
        }


def dump_tables(dump: Path) -> set[str]:
    """Names of the tables a custom-format dump creates (``pg_restore --list``)."""
    proc = subprocess.run(
        [_tool("pg_restore"), "--list", str(dump)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise BackupError(f"pg_restore --list failed: {proc.stderr.strip()[-2000:]}")
    names = set()
    for line in proc.stdout.splitlines():
        if line.startswith(";") or ";" not in line:
            continue
        # "<id>; <catalog oid> <oid> TABLE <schema> <name> <owner>" ("TABLE DATA ..." skipped)
        parts = line.split(";", 1)[1].split()
        if len(parts) >= 5 and parts[2] == "TABLE" and parts[3] != "DATA":
            names.add(parts[4])
    return names


def drop_other_tables(engine: Engine, keep: set[str]) -> list[str]:
    """Drop the views and the tables of the default schema that are not in ``keep`` (the
    tables of the dump, which ``pg_restore --clean`` replaces inside its own transaction), so
    tables a newer schema added do not linger. PostgreSQL only; called once the instance was
    found empty or ``--force`` was given. Returns the dropped table names."""
    with engine.begin() as conn:
        insp = inspect(conn)
        quote = conn.dialect.identifier_preparer.quote
        views = insp.get_view_names()
        if views:
            conn.execute(
                text("DROP VIEW IF EXISTS " + ", ".join(quote(v) for v in views) + " CASCADE")
            )
        tables = [t for t in insp.get_table_names() if t not in keep]
        if tables:
            conn.execute(
                text("DROP TABLE IF EXISTS " + ", ".join(quote(t) for t in tables) + " CASCADE")
            )
    return tables


def restore_postgresql(url: str, dump: Path) -> None:
    """``pg_restore --clean --if-exists`` of a custom-format dump into the database at ``url``,
    in one transaction (``--single-transaction --exit-on-error``: all or nothing), objects
    owned by the connecting role (``--no-owner --no-privileges``).

    Raises ToolMissing, BackupError (pg_restore failed; the database is as before it ran)."""
    uri, env = _libpq(url)
    _run(
        [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            "--no-password",
            f"--dbname={uri}",
            str(dump),
        ],
        env,
        "pg_restore",
    )
