"""Back up a fleet instance into one tar, and restore such a tar into an instance.

What an instance holds (and a backup carries):

- the database: the SQLite file (default ``<DATA_DIR>/fleet.sqlite3``) copied with the online
  backup API, or a PostgreSQL database dumped with ``pg_dump --format=custom``;
- the files under config APK_STORE_DIR (``<sha[:2]>/<sha>.apk``), UPLOAD_DIR and DATA_DIR
  (agreement signatures and scans in ``agreements/``, provisioning handover slips, TLS
  certificate in ``tls/``);
- the keys ``<DATA_DIR>/fernet.key`` (without it the encrypted columns, SIM PIN/PUK, tokens,
  SSH keys, cannot be read) and ``<DATA_DIR>/secret_key``, unless ``include_keys=False``.

Left out: the database's own files under DATA_DIR, config BACKUP_DIR (other backups),
temporary files of interrupted uploads, and the instance config file ``config.py`` (deployment
configuration, not data).

A restore verifies every member's SHA-256 against the manifest before it touches anything,
refuses an instance that already holds data unless forced, puts back the files and then the
database, and finally runs the Alembic migrations up to heads (a backup of an older schema is
upgraded). Both functions run inside an app context and use the current app's configuration.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from fleet import __version__
from fleet.backup.archive import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_NAME,
    MANIFEST_SHA_NAME,
    InvalidBackup,
    Member,
    add_bytes,
    add_stream,
    manifest_bytes,
    member_dicts,
    members_of,
    open_archive,
    verify,
)
from fleet.backup.database import (
    BackupError,
    alembic_revisions,
    check_sqlite_file,
    dialect_of,
    drop_other_tables,
    dump_postgresql,
    dump_sqlite,
    dump_tables,
    require_pg_tools,
    restore_postgresql,
    restore_sqlite,
    sqlite_file,
    sqlite_side_files,
    table_counts,
)
from fleet.cli import upgrade_database
from fleet.extensions import db
from fleet.fsutil import fsync_dir
from fleet.timeutil import utcnow

log = logging.getLogger(__name__)

KEY_FILES = ("fernet.key", "secret_key")
"""Key files at the root of DATA_DIR (config.py ``resolve_paths``)."""

SEED_TABLES = frozenset({"alembic_version", "counter", "agreement_template"})
"""Tables the migrations themselves fill (Alembic's version, the asset tag counter at 0, the
default agreement templates): rows there do not make an instance "not empty". An edited
template shows in ``audit_log``, which counts."""

_TEMP_PREFIXES = (".upload-", ".tmp-", ".fleet-backup-", ".fleet-restore-")
_TEMP_SUFFIXES = (".part", ".partial")


class InstanceNotEmpty(BackupError):
    """The target instance already holds data and ``force`` was not given."""


class Progress:
    """Progress callbacks for long work; the default does nothing.

    ``phase(label, total)`` starts a phase of ``total`` bytes (0: unknown); ``advance(n)``
    reports ``n`` more bytes done in the current phase."""

    def phase(self, label: str, total: int = 0) -> None:
        pass

    def advance(self, n: int) -> None:
        pass


@dataclass(frozen=True)
class InstanceFile:
    """A file of the instance: tar ``member`` name, ``path`` on disk, ``size`` (bytes),
    ``mtime`` (epoch seconds), ``kind`` and whether it is ``optional``."""

    member: str
    path: Path
    size: int
    mtime: float
    kind: str
    optional: bool = False


@dataclass(frozen=True)
class BackupResult:
    """A written backup: ``path``, its ``size`` in bytes and its ``manifest``."""

    path: Path
    size: int
    manifest: dict


@dataclass(frozen=True)
class RestoreResult:
    """A finished restore: the backup's ``manifest``, the number of ``files`` put back and
    their ``bytes``, the Alembic revisions before (the backup's) and after the upgrade."""

    manifest: dict
    files: int
    bytes: int
    revisions_before: list[str]
    revisions_after: list[str]


def key_fingerprint(key: str | bytes) -> str:
    """SHA-256 hex of a key (safe to show: it does not reveal the 256-bit key)."""
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(raw.strip()).hexdigest()


def instance_roots() -> dict[str, Path]:
    """``{"apk_store": APK_STORE_DIR, "uploads": UPLOAD_DIR, "data": DATA_DIR}`` (resolved)."""
    cfg = current_app.config
    return {
        "apk_store": Path(cfg["APK_STORE_DIR"]).resolve(),
        "uploads": Path(cfg["UPLOAD_DIR"]).resolve(),
        "data": Path(cfg["DATA_DIR"]).resolve(),
    }


def backup_dir() -> Path:
    """Where scheduled backups go: config BACKUP_DIR, default ``<DATA_DIR>/backups``."""
    cfg = current_app.config
    return Path(cfg.get("BACKUP_DIR") or Path(cfg["DATA_DIR"]) / "backups").resolve()


def _database_files() -> set[Path]:
    url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    if dialect_of(url) != "sqlite":
        return set()
    path = sqlite_file(url)
    return {path, *sqlite_side_files(path)}


def _kind(root: str, rel: Path) -> tuple[str, bool]:
    if root == "apk_store":
        return "apk", False
    if root == "uploads":
        return "upload", False
    if len(rel.parts) == 1 and rel.name in KEY_FILES:
        return "key", False
    if rel.parts[0] == "tls":
        return "tls", True
    if rel.parts[0] == "agreements":
        return "agreement", False
    return "data", False


def _is_temp(name: str) -> bool:
    return name.startswith(_TEMP_PREFIXES) or name.endswith(_TEMP_SUFFIXES)


def instance_files(*, include_keys: bool = True, exclude=()) -> list[InstanceFile]:
    """Every regular file of the instance, sorted by member name.

    Skips symbolic links, the SQLite database and its journals, BACKUP_DIR, temporary files
    of interrupted uploads (``.upload-*``, ``.tmp-*``, ``*.part``), ``config.py`` at the root of
    DATA_DIR, anything under ``exclude`` (paths), and with ``include_keys=False`` the keys.
    A root nested in another (APK_STORE_DIR inside DATA_DIR) is listed once, under its own
    name."""
    roots = instance_roots()
    skip_files = _database_files()
    skip_dirs = {backup_dir(), *(Path(p).resolve() for p in exclude)}
    out: list[InstanceFile] = []
    seen: set[Path] = set()
    for root_name, root in roots.items():
        other_roots = {
            r for n, r in roots.items() if n != root_name and r != root and root in r.parents
        }
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not _is_temp(d)
                and (here / d) not in skip_dirs
                and (here / d) not in other_roots
                and not (here / d).is_symlink()
            )
            for name in sorted(filenames):
                path = here / name
                rel = path.relative_to(root)
                if (
                    _is_temp(name)
                    or path in skip_files
                    or path in skip_dirs
                    or path in seen
                    or path.is_symlink()
                    or not path.is_file()
                ):
                    continue
                if root_name == "data" and rel.as_posix() == "config.py":
                    continue
                kind, optional = _kind(root_name, rel)
                if kind == "key" and not include_keys:
                    continue
                st = path.stat()
                seen.add(path)
                out.append(
                    InstanceFile(
                        f"files/{root_name}/{rel.as_posix()}",
                        path,
                        st.st_size,
                        st.st_mtime,
                        kind,
                        optional,
                    )
                )
    return sorted(out, key=lambda f: f.member)


def _key_from_file(name: str, config_name: str) -> bool:
    """True when config ``config_name`` holds the content of ``<DATA_DIR>/<name>``."""
    path = Path(current_app.config["DATA_DIR"]) / name
    value = str(current_app.config.get(config_name) or "").strip()
    return path.is_file() and bool(value) and path.read_text().strip() == value


def create_backup(
    out: Path | str, *, include_keys: bool = True, progress: Progress | None = None
) -> BackupResult:
    """Write a backup of the current app's instance to ``out`` (``.tar``; ``.tar.gz`` or
    ``.tgz`` compresses), atomically: a temporary file in the same folder is renamed to
    ``out`` only when complete, mode 0600 (it holds the keys).

    Args:
        include_keys: False leaves ``fernet.key`` and ``secret_key`` out (the manifest still
            records the Fernet key's SHA-256 so a restore can tell a wrong key).
        progress: phases "database (<dialect>)" then "archive" with the bytes to write.

    Raises BackupError (no database, copy fails its check, pg_dump fails), ToolMissing
    (pg_dump not installed, with the Debian package name), OSError (disk full ...); ``out``
    is then left untouched.
    """
    progress = progress or Progress()
    cfg = current_app.config
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    url = cfg["SQLALCHEMY_DATABASE_URI"]
    dialect = dialect_of(url)
    if dialect == "postgresql":
        require_pg_tools("pg_dump")
    created = utcnow()
    work = Path(tempfile.mkdtemp(prefix=".fleet-backup-work-", dir=out.parent))
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".fleet-backup-{out.name}.", suffix=".partial", dir=out.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        progress.phase(f"database ({dialect})")
        if dialect == "sqlite":
            dump = work / "fleet.sqlite3"
            revisions = dump_sqlite(sqlite_file(url), dump)
        else:
            revisions = alembic_revisions(db.engine)
            dump = work / "fleet.pgdump"
            dump_postgresql(url, dump)
        files = instance_files(include_keys=include_keys, exclude=(out, tmp, work))
        total = dump.stat().st_size + sum(f.size for f in files)
        progress.phase("archive", total)
        members: list[Member] = []
        mode = "w:gz" if out.name.endswith((".tar.gz", ".tgz")) else "w"
        with open(tmp, "wb") as raw:
            with tarfile.open(fileobj=raw, mode=mode, format=tarfile.PAX_FORMAT) as tar:
                with open(dump, "rb") as fh:
                    sha, size = add_stream(
                        tar,
                        f"database/{dump.name}",
                        fh,
                        dump.stat().st_size,
                        mtime=created.timestamp(),
                        mode=0o600,
                        on_bytes=progress.advance,
                    )
                members.append(Member(f"database/{dump.name}", sha, size, "database"))
                for f in files:
                    try:
                        fh = open(f.path, "rb")
                    except FileNotFoundError:
                        log.warning("backup: %s vanished while backing up; left out", f.path)
                        continue
                    with fh:
                        sha, size = add_stream(
                            tar,
                            f.member,
                            fh,
                            f.size,
                            mtime=f.mtime,
                            mode=0o600 if f.kind == "key" else 0o644,
                            on_bytes=progress.advance,
                        )
                    members.append(Member(f.member, sha, size, f.kind, f.optional))
                key_in_backup = include_keys and _key_from_file("fernet.key", "ENCRYPTION_KEY")
                manifest = {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "fleet_version": __version__,
                    "created_at": created.isoformat(timespec="seconds"),
                    "host": socket.gethostname(),
                    "database": {
                        "dialect": dialect,
                        "member": f"database/{dump.name}",
                        "alembic_revisions": revisions,
                    },
                    "keys_included": key_in_backup,
                    "encryption_key_sha256": key_fingerprint(cfg["ENCRYPTION_KEY"]),
                    "totals": {"members": len(members), "bytes": sum(m.size for m in members)},
                    "members": member_dicts(members),
                }
                body = manifest_bytes(manifest)
                add_bytes(tar, MANIFEST_NAME, body, mtime=created.timestamp())
                add_bytes(
                    tar,
                    MANIFEST_SHA_NAME,
                    (hashlib.sha256(body).hexdigest() + "\n").encode(),
                    mtime=created.timestamp(),
                )
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
        fsync_dir(out.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = out.stat().st_size
    log.info(
        "backup written to %s (%d bytes, %d members, revisions %s)",
        out,
        size,
        len(members),
        ",".join(revisions),
    )
    return BackupResult(out, size, manifest)


def instance_contents() -> list[str]:
    """Why the current instance is not empty: one sentence per reason ([] when empty).

    Empty means no table holds a row (:data:`SEED_TABLES` aside) and no file other than the
    keys and the TLS certificate (which every started instance makes) lies in the APK store,
    uploads or DATA_DIR."""
    reasons = []
    url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    check_db = True
    if dialect_of(url) == "sqlite":
        path = sqlite_file(url)
        check_db = path.is_file() and path.stat().st_size > 0
    if check_db:
        counts = {t: n for t, n in table_counts(db.engine).items() if n and t not in SEED_TABLES}
        if counts:
            sample = ", ".join(f"{t} ({n})" for t, n in sorted(counts.items())[:5])
            reasons.append(
                f"the database has rows in {len(counts)} tables: {sample}"
                + (" ..." if len(counts) > 5 else "")
            )
    files = [f for f in instance_files() if f.kind not in ("key", "tls")]
    if files:
        reasons.append(f"{len(files)} files are stored (first: {files[0].path})")
    return reasons


def _check_keys(manifest: dict, names: set[str]) -> None:
    """Refuse (before anything changes) a restore whose encrypted columns would be
    unreadable with the key this instance will use afterwards."""
    cfg = current_app.config
    wanted = manifest.get("encryption_key_sha256")
    if key_fingerprint(cfg["ENCRYPTION_KEY"]) == wanted:
        return
    carried = manifest.get("keys_included") and "files/data/fernet.key" in names
    if carried and _key_from_file("fernet.key", "ENCRYPTION_KEY"):
        return  # the restored fernet.key replaces this instance's and is reloaded
    if carried:
        raise BackupError(
            "this instance's ENCRYPTION_KEY comes from its configuration (FLEET_ENCRYPTION_KEY "
            "or config.py) and differs from the key in the backup: the restored SIM PIN/PUK, "
            "tokens and SSH keys would be unreadable. Unset it (the restored fernet.key is then "
            "used) or set it to the backed-up key, and restore again. Nothing was changed."
        )
    raise BackupError(
        "the backup was made without its keys (--exclude-keys) and this instance's "
        "ENCRYPTION_KEY is a different key: the restored SIM PIN/PUK, tokens and SSH keys "
        "would be unreadable. Put the original fernet.key in DATA_DIR (or set "
        "FLEET_ENCRYPTION_KEY to it) and restore again. Nothing was changed."
    )


def _check_revisions(revisions: list[str]) -> None:
    """Refuse a backup whose schema revisions this fleet's migrations do not know (a backup
    made by a newer fleet): the upgrade after the restore could not run."""
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    script = ScriptDirectory(current_app.extensions["migrate"].directory)
    for rev in revisions:
        try:
            known = script.get_revision(rev)
        except CommandError:
            known = None
        if known is None:
            raise BackupError(
                f"the backup's schema revision {rev} is unknown to this fleet "
                f"({__version__}): it was made by a newer fleet. Install that version (or newer) "
                "and restore again. Nothing was changed."
            )


def _target_path(name: str) -> Path:
    """Where member ``files/<root>/<rel>`` goes in this instance; refuses escapes."""
    _files, root_name, rel = name.split("/", 2)
    root = instance_roots()[root_name]
    target = (root / rel).resolve()
    if root != target and root not in target.parents:
        raise InvalidBackup(f"member {name} points outside {root}")
    return target


def _extract(tar, info, target: Path, member: Member, mode: int, progress: Progress) -> None:
    """Write a member to ``target`` through a temporary file in the same folder, checking
    its SHA-256 again while writing, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".fleet-restore-", suffix=".part", dir=target.parent)
    try:
        digest = hashlib.sha256()
        src = tar.extractfile(info)
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(1024 * 1024):
                digest.update(chunk)
                out.write(chunk)
                progress.advance(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != member.sha256:
            raise InvalidBackup(f"member {member.name} changed while restoring")
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def restore_backup(
    path: Path | str, *, force: bool = False, progress: Progress | None = None
) -> RestoreResult:
    """Restore the backup at ``path`` into the current app's instance.

    Order: verify every member against the manifest (nothing touched yet); check the
    database kind matches (SQLite into SQLite, PostgreSQL into PostgreSQL), the tools exist,
    the Fernet key will match and, unless ``force``, that the instance is empty; then write
    the files, replace the database (SQLite: atomic rename of the file; PostgreSQL: every
    table the dump does not hold dropped, then ``pg_restore --clean --if-exists`` in one
    transaction, which replaces the others) and run the
    migrations up to heads. Stop the server (and the scheduler) first.

    Raises InvalidBackup (corrupt, truncated, not a fleet backup), InstanceNotEmpty,
    ToolMissing, BackupError (kind or key mismatch, pg_restore failed); in the refusals the
    instance is left as it was.
    """
    progress = progress or Progress()
    cfg = current_app.config
    path = Path(path)
    progress.phase("verify", path.stat().st_size if path.is_file() else 0)
    manifest = verify(path, on_bytes=progress.advance)
    members = {m.name: m for m in members_of(manifest)}
    url = cfg["SQLALCHEMY_DATABASE_URI"]
    dialect = dialect_of(url)
    source = manifest["database"]["dialect"]
    if source != dialect:
        raise BackupError(
            f"the backup holds a {source} database and this instance uses "
            f"{dialect}; restore into an instance of the same kind "
            "(FLEET_DATABASE_URL). Nothing was changed."
        )
    if dialect == "postgresql":
        require_pg_tools("pg_restore")
    _check_revisions(manifest["database"]["alembic_revisions"])
    _check_keys(manifest, set(members))
    targets = {m.name: _target_path(m.name) for m in members.values() if m.kind != "database"}
    if not force:
        reasons = instance_contents()
        if reasons:
            raise InstanceNotEmpty(
                "this instance is not empty: "
                + "; ".join(reasons)
                + ". Restore into an empty instance, or give --force to "
                "replace its data. Nothing was changed."
            )
    secret_from_file = _key_from_file("secret_key", "SECRET_KEY")
    key_from_file = _key_from_file("fernet.key", "ENCRYPTION_KEY")
    db.session.remove()
    db.engine.dispose()
    db_target = sqlite_file(url) if dialect == "sqlite" else None
    stage_parent = db_target.parent if db_target else Path(cfg["DATA_DIR"])
    stage_parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fleet-restore-", dir=stage_parent))
    files = nbytes = 0
    try:
        progress.phase("files", manifest["totals"]["bytes"])
        staged_db = None
        with open_archive(path) as tar:
            for info in tar:
                member = members.get(info.name)
                if member is None:  # the manifest and its digest
                    continue
                if member.kind == "database":
                    staged_db = staging / Path(info.name).name
                    _extract(tar, info, staged_db, member, 0o600, progress)
                    continue
                _extract(
                    tar,
                    info,
                    targets[info.name],
                    member,
                    0o600 if member.kind == "key" else 0o644,
                    progress,
                )
                files += 1
                nbytes += member.size
        if staged_db is None:
            raise InvalidBackup(f"{MANIFEST_NAME} lists no database member")
        if key_from_file and "files/data/fernet.key" in members:
            cfg["ENCRYPTION_KEY"] = (Path(cfg["DATA_DIR"]) / "fernet.key").read_text().strip()
        if secret_from_file and "files/data/secret_key" in members:
            cfg["SECRET_KEY"] = (Path(cfg["DATA_DIR"]) / "secret_key").read_text().strip()
        progress.phase(f"database ({dialect})")
        if db_target is not None:
            check_sqlite_file(staged_db)
            restore_sqlite(staged_db, db_target)
        else:
            drop_other_tables(db.engine, keep=dump_tables(staged_db))
            restore_postgresql(url, staged_db)
        db.engine.dispose()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress.phase("migrations")
    upgrade_database()
    after = alembic_revisions(db.engine)
    log.info(
        "restored %s: %d files (%d bytes), revisions %s -> %s",
        path,
        files,
        nbytes,
        ",".join(manifest["database"]["alembic_revisions"]),
        ",".join(after),
    )
    return RestoreResult(manifest, files, nbytes, manifest["database"]["alembic_revisions"], after)


__all__ = [
    "BackupError",
    "BackupResult",
    "InstanceNotEmpty",
    "InvalidBackup",
    "Progress",
    "RestoreResult",
    "backup_dir",
    "create_backup",
    "instance_contents",
    "instance_files",
    "key_fingerprint",
    "restore_backup",
]
