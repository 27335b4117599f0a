"""``fleet backup [--out FILE.tar] [--exclude-keys]`` and ``fleet restore FILE.tar [--force]``
(``fleet restore --check FILE.tar`` only verifies)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from fleet.backup.archive import verify
from fleet.backup.jobs import backup_name
from fleet.backup.operations import BackupError, Progress, backup_dir, create_backup, restore_backup


class ClickProgress(Progress):
    """One line per phase on stderr, with a progress bar for phases of known size."""

    def __init__(self):
        self.bar = None

    def _close(self):
        if self.bar is not None:
            self.bar.render_finish()
            self.bar = None

    def phase(self, label: str, total: int = 0) -> None:
        self._close()
        if total:
            self.bar = click.progressbar(
                length=total,
                label=f"{label:<20}",
                file=sys.stderr,
                show_pos=False,
                show_percent=True,
            )
            self.bar.render_progress()
        else:
            click.echo(f"{label} ...", err=True)

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def done(self):
        self._close()


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


@click.command("backup")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Backup file (.tar, or .tar.gz to compress). Default: "
    "BACKUP_DIR/fleet-backup-<UTC time>.tar.",
)
@click.option(
    "--exclude-keys",
    is_flag=True,
    help="Leave fernet.key and secret_key out (keep them safe elsewhere: without the "
    "Fernet key the encrypted columns cannot be read).",
)
@with_appcontext
def backup_command(out: Path | None, exclude_keys: bool) -> None:
    """Back up the database and the files (APK store, scans, uploads, keys) into one tar.

    Safe while the server runs (SQLite online backup API, pg_dump snapshot). The tar holds
    the Fernet key that decrypts SIM PIN/PUK and tokens: store it like a password."""
    if out is None:
        directory = backup_dir()
        directory.mkdir(parents=True, exist_ok=True)
        out = backup_name(directory)
    progress = ClickProgress()
    try:
        result = create_backup(out, include_keys=not exclude_keys, progress=progress)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        progress.done()
    m = result.manifest
    kinds: dict[str, int] = {}
    for member in m["members"]:
        kinds[member["kind"]] = kinds.get(member["kind"], 0) + 1
    click.echo(f"backup written: {result.path} ({_mb(result.size)})")
    click.echo(
        f"  database: {m['database']['dialect']}, revisions "
        f"{', '.join(m['database']['alembic_revisions']) or '(none)'}"
    )
    click.echo("  members: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    if m["keys_included"]:
        click.secho(
            "  contains the Fernet key (fernet.key): keep this file private "
            "(mode 0600, encrypted storage)",
            fg="yellow",
        )
    else:
        click.secho(
            "  keys NOT included: a restore needs this instance's Fernet key "
            f"(SHA-256 {m['encryption_key_sha256'][:16]}...)",
            fg="yellow",
        )


@click.command("restore")
@click.argument("backup", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the data of an instance that is not empty.")
@click.option(
    "--check", is_flag=True, help="Only verify the backup against its manifest; change nothing."
)
@with_appcontext
def restore_command(backup: Path, force: bool, check: bool) -> None:
    """Restore BACKUP into this instance (stop the server first).

    Every member's SHA-256 is verified before anything changes; an instance that already
    holds data is refused unless --force; the migrations then run up to heads."""
    progress = ClickProgress()
    try:
        if check:
            progress.phase("verify", backup.stat().st_size if backup.is_file() else 0)
            manifest = verify(backup, on_bytes=progress.advance)
            progress.done()
            click.echo(
                f"backup OK: {manifest['totals']['members']} members, "
                f"{_mb(manifest['totals']['bytes'])}, {manifest['database']['dialect']} "
                f"revisions {', '.join(manifest['database']['alembic_revisions'])}, "
                f"made {manifest['created_at']} by fleet {manifest['fleet_version']}"
            )
            return
        result = restore_backup(backup, force=force, progress=progress)
    except BackupError as exc:
        progress.done()
        raise click.ClickException(str(exc)) from exc
    progress.done()
    click.echo(
        f"restored {backup}: database ({result.manifest['database']['dialect']}), "
        f"{result.files} files ({_mb(result.bytes)})"
    )
    click.echo(
        f"  schema: {', '.join(result.revisions_before) or '(none)'} -> "
        f"{', '.join(result.revisions_after)}"
    )


commands = (backup_command, restore_command)
