"""``fleet health ...``: pull health reports over ADB, issue push tokens, re-check compliance,
set thresholds."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from fleet.errors import FleetError
from fleet.extensions import db
from fleet.inventory.cli import cli_actor


@click.group("health")
def health():
    """Device health reports and compliance."""


@health.command("pull")
@click.option("--station", "station_name", default=None,
              help="Station name (default: every station, or the local adb server).")
@click.option("--serial", "serials", multiple=True,
              help="Only this phone (adb serial or its own serial); repeatable.")
@click.option("--adb-port", type=int, default=None,
              help="Local adb server port (default config HEALTH_ADB_PORT, 5037).")
@with_appcontext
def pull(station_name, serials, adb_port):
    """Pull a health report from every connected phone and store it."""
    from fleet.provisioning.adb import AdbError
    from fleet.provisioning.stations import StationError, StationSpec
    from fleet.reports import jobs

    if adb_port is not None:
        targets = [StationSpec(name=station_name or "local", kind="local",
                               adb_host=current_app.config.get("HEALTH_ADB_HOST", "127.0.0.1"),
                               adb_port=adb_port)]
    else:
        targets = jobs.stations()
        if station_name:
            targets = [s for s in targets if s.name == station_name]
            if not targets:
                raise click.ClickException(f"no station {station_name}")
    failed = 0
    for station in targets:
        try:
            outcome = jobs.pull_station(station, serials=serials or None)
        except (AdbError, StationError, OSError) as exc:
            db.session.rollback()
            failed += 1
            click.echo(f"station {station.name}: {exc}", err=True)
            continue
        db.session.commit()
        for tag in outcome.stored:
            click.echo(f"stored {tag}")
        for serial, reason in outcome.skipped:
            click.echo(f"skipped {serial}: {reason}")
        click.echo(outcome.summary())
    if failed == len(targets):
        raise click.ClickException("no station could be pulled")


@health.command("token")
@click.argument("asset_tag")
@click.option("--user", "username", default=None, help="Acting fleet user.")
@with_appcontext
def token(asset_tag, username):
    """Issue a push token for a device (printed once)."""
    from fleet.reports import operations as ops

    try:
        _tok, plain = ops.issue_token(ops.device_by_asset_tag(asset_tag),
                                      actor=cli_actor(username))
    except FleetError as exc:
        raise click.ClickException(str(exc.message)) from exc
    db.session.commit()
    click.echo(plain)


@health.command("check")
@with_appcontext
def check():
    """Re-run the compliance rules for every device."""
    from fleet.reports import operations as ops

    count = ops.refresh_all()
    db.session.commit()
    click.echo(f"{count} device(s) checked")


@health.command("set")
@click.argument("key")
@click.argument("value", type=float)
@click.option("--user", "username", default=None, help="Acting fleet user.")
@with_appcontext
def set_threshold(key, value, username):
    """Set a compliance threshold (see the thresholds page for the keys)."""
    from fleet.reports import operations as ops

    try:
        ops.set_threshold(key, value, actor=cli_actor(username))
    except FleetError as exc:
        raise click.ClickException(str(exc.message)) from exc
    ops.refresh_all()
    db.session.commit()
    click.echo(f"{key} = {value:g}")


commands = (health,)
