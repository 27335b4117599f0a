"""``fleet import``, ``fleet export`` and ``fleet orgunits``: inventory from the shell."""

from __future__ import annotations

import getpass
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import click
from flask.cli import with_appcontext

from fleet.errors import FleetError

KIND = click.Choice(["devices", "sims", "holders"])


@dataclass
class CliActor:
    """The acting user for CLI commands: a fleet user named by --user, else the OS user."""

    username: str
    id: int | None = None


def cli_actor(username: str | None):
    from sqlalchemy import select

    from fleet.auth.models import User
    from fleet.extensions import db

    if username:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"no fleet user {username}")
        return user
    return CliActor(username=f"cli:{getpass.getuser()}")


@click.command("import")
@click.argument("kind", type=KIND)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row; write nothing.")
@click.option("--valid-only", is_flag=True, help="Import the valid rows even if others fail.")
@click.option("--user", envvar="FLEET_CLI_USER", help="fleet user to record in the audit log.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_appcontext
def import_command(kind, path, dry_run, valid_only, user, as_json):
    """Import KIND (devices, sims, holders) from a CSV or XLSX file.

    Exit status 1 when any row is refused (with or without --valid-only), 2 for an unreadable
    file."""
    from fleet.extensions import db
    from fleet.inventory.imports import import_table

    data = path.read_bytes()
    with click.progressbar(
        length=max(1, data.count(b"\n")), label=f"checking {kind}", file=sys.stderr
    ) as bar:
        last = [0]

        def progress(n):
            bar.update(n - last[0])
            last[0] = n

        try:
            report = import_table(
                kind,
                path.name,
                data,
                actor=cli_actor(user),
                dry_run=dry_run,
                valid_only=valid_only,
                progress=progress,
            )
        except FleetError as exc:
            db.session.rollback()
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(2)
    db.session.commit()
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        for err in report.errors:
            click.echo(f"row {err.row}, column {err.column or '-'}: {err.message}")
        click.echo(
            f"{report.total_rows} rows, {report.valid_rows} valid, "
            f"{report.rejected_rows} refused, {report.imported} imported"
            + (" (dry run)" if dry_run else "")
            + (
                "; nothing written because rows were refused (use --valid-only)"
                if report.errors and not report.imported and not dry_run
                else ""
            )
        )
    if report.errors:
        sys.exit(1)


@click.command("export")
@click.argument("kind", type=KIND)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--status", default=None)
@click.option("--district", default=None)
@with_appcontext
def export_command(kind, path, status, district):
    """Export KIND to PATH (.csv or .xlsx by the file name)."""
    from fleet.inventory.exports import export

    fmt = "xlsx" if path.suffix.lower() == ".xlsx" else "csv"
    filters = {k: v for k, v in {"status": status, "district": district}.items() if v}
    path.write_bytes(export(kind, fmt, filters))
    click.echo(f"wrote {path}")


@click.group("orgunits")
def orgunits_group():
    """Org unit hierarchy."""


@orgunits_group.command("add")
@click.argument("name")
@click.option("--parent", default=None, help="Parent name, code or UID.")
@click.option("--uid", default=None)
@click.option("--code", default=None)
@click.option("--level", type=int, default=None)
@with_appcontext
def add_org_unit_command(name, parent, uid, code, level):
    """Add an org unit."""
    from fleet.extensions import db
    from fleet.inventory.operations import create_org_unit
    from fleet.inventory.schemas import OrgUnitCreateArgs

    try:
        data = OrgUnitCreateArgs().load(
            {"name": name, "parent": parent, "uid": uid, "code": code, "level": level}
        )
        unit = create_org_unit(data, actor=cli_actor(None))
    except FleetError as exc:
        raise click.ClickException(str(exc.message)) from exc
    db.session.commit()
    click.echo(f"{unit.id}\t{unit.level_name}\t{unit.name}")


@orgunits_group.command("list")
@with_appcontext
def list_org_units_command():
    """Print the hierarchy."""
    from fleet.inventory.queries import org_unit_tree

    for unit in org_unit_tree():
        click.echo(
            f"{'  ' * (unit.level - 1)}{unit.name} [{unit.level_name}]"
            + (f" {unit.uid}" if unit.uid else "")
        )


commands = (import_command, export_command, orgunits_group)
