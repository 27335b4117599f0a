"""``fleet labels print``: QR asset labels from the shell."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from fleet.errors import FleetError

FORMATS = click.Choice(["a4-l7160", "letter-5160", "thermal-62mm", "thermal-50x25"])


@click.group("labels")
def labels():
    """QR asset labels: phone stickers, box labels, agreement-number labels."""


@labels.command("print")
@click.option("--tag", "tags", multiple=True, help="Asset tag (repeat for several devices).")
@click.option("--status", help="Every device in this status.")
@click.option("--district", help="Every device in this district (name, code or UID).")
@click.option("--format", "fmt", type=FORMATS, required=True, help="Label stock.")
@click.option("--dpi", type=click.Choice(["203", "300"]), default="300", show_default=True,
              help="Printer resolution for thermal formats.")
@click.option("--offset", type=int, default=0, show_default=True,
              help="Label positions already used on the first sheet (A4/Letter).")
@click.option("--kinds", default="phone,box,agreement", show_default=True,
              help="Labels per device: phone, box, agreement (both copies).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output file (PDF for sheets, ZIP of PNGs for thermal).")
@click.option("--user", envvar="FLEET_CLI_USER", help="fleet user to record in the audit log.")
@with_appcontext
def print_command(tags, status, district, fmt, dpi, offset, kinds, out, user):
    """Print labels for devices chosen by --tag, --status or --district.

    Exit status 2 when nothing can be printed (unknown tag, no device, bad offset...)."""
    from fleet.extensions import db
    from fleet.inventory.cli import cli_actor
    from fleet.labels.scanning import parse_kinds, print_labels, select_devices

    if not (tags or status or district):
        raise click.UsageError("choose devices with --tag, --status or --district")
    try:
        kinds_t = parse_kinds(kinds)
        devices = select_devices(tags=tags, status=status, district=district)
        if not devices:
            click.echo("error: no device matches; nothing printed", err=True)
            sys.exit(2)
        with click.progressbar(length=len(devices), label=f"rendering {fmt}",
                               file=sys.stderr) as bar:
            done = [0]

            def progress(n):
                bar.update(n - done[0])
                done[0] = n

            data = print_labels(devices, fmt, kinds=kinds_t, dpi=int(dpi), start_offset=offset,
                                progress=progress, actor=cli_actor(user))
    except FleetError as exc:
        db.session.rollback()
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    out.write_bytes(data)
    db.session.commit()
    click.echo(f"{len(devices) * len(kinds_t)} labels for {len(devices)} devices -> {out} "
               f"({len(data)} bytes)")


commands = (labels,)
