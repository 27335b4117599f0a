"""``fleet provision``, ``fleet stations``, ``fleet profiles``: click commands over the
provisioning operations and the run coordinator."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from fleet.errors import FleetError
from fleet.inventory.cli import cli_actor


def _fail(exc: Exception):
    raise click.ClickException(str(exc))


class LiveLines:
    """One line per phone: redrawn in place on a terminal, printed when it changes otherwise
    (pipes, logs, tests)."""

    def __init__(self, tty: bool):
        self.tty = tty
        self.drawn = 0
        self.last: dict[str, str] = {}

    def __call__(self, lines) -> None:
        texts = [ln.text() for ln in lines]
        if self.tty:
            if self.drawn:
                sys.stdout.write(f"\x1b[{self.drawn}F")
            for t in texts:
                sys.stdout.write("\x1b[2K" + t + "\n")
            sys.stdout.flush()
            self.drawn = len(texts)
            return
        for ln, t in zip(lines, texts, strict=True):
            if self.last.get(ln.adb_serial) != t:
                self.last[ln.adb_serial] = t
                click.echo(t)


@click.command("provision")
@click.option("--profile", "profile_name", required=False, help="Provisioning profile name.")
@click.option("--station", "station_name", default=None,
              help="Station name (default: the local adb server, config ADB_SERVER_PORT).")
@click.option("--serial", "serials", multiple=True, help="Only this phone (ro.serialno, "
              "IMEI or adb serial); repeatable.")
@click.option("--all", "all_phones", is_flag=True, help="Every phone the station sees.")
@click.option("--watch", is_flag=True, help="Keep going as phones are plugged in (Ctrl-C "
              "ends); phones unplugged mid-way resume when plugged back.")
@click.option("--resume", "resume_id", type=int, default=None,
              help="Continue run N: its phones resume at the step where they stopped.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--timeout", type=float, default=None, help="With --watch: stop after S seconds.")
@click.option("--slips", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the handover slips PDF (default under DATA_DIR).")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON at the end.")
@click.option("--user", envvar="FLEET_CLI_USER", help="fleet user to record in the audit log.")
@with_appcontext
def provision_command(profile_name, station_name, serials, all_phones, watch, resume_id,
                      concurrency, timeout, slips, as_json, user):
    """Provision the phones plugged into a station with a profile."""
    from fleet.extensions import db
    from fleet.provisioning.models import Run
    from fleet.provisioning.operations import find_profile, find_station
    from fleet.provisioning.runs import Provisioner, resume_run, run_summary, start_run
    from fleet.provisioning.slips import write_slips
    from fleet.provisioning.stations import StationError, StationSpec, open_station

    if not serials and not all_phones and resume_id is None:
        raise click.UsageError("name phones with --serial, or use --all")
    actor = cli_actor(user)
    try:
        if resume_id is not None:
            run = db.session.get(Run, resume_id)
            if run is None:
                raise click.ClickException(f"no run {resume_id}")
            if profile_name and profile_name != run.profile.name:
                raise click.ClickException(f"run {resume_id} uses profile {run.profile.name}")
            station = run.station
            resume_run(run, actor=actor)
        else:
            if not profile_name:
                raise click.UsageError("--profile is required")
            profile = find_profile(profile_name)
            station = find_station(station_name) if station_name else None
            run = start_run(profile, station, actor=actor)
        db.session.commit()
    except FleetError as exc:
        _fail(exc)
    spec = station or StationSpec(name="local", adb_port=int(
        current_app.config.get("ADB_SERVER_PORT", 5037)))
    click.echo(f"run {run.id}: profile {run.profile.name} v{run.profile_version} at station "
               f"{spec.name}" + (" (watching; Ctrl-C to stop)" if watch else ""))
    stop = threading.Event()
    live = LiveLines(sys.stdout.isatty())
    try:
        with open_station(spec) as client:
            prov = Provisioner(run, client, actor=actor, serials=list(serials) or None,
                               watch=watch, concurrency=concurrency, timeout=timeout,
                               commit=db.session.commit, on_update=live, stop=stop)
            try:
                run = prov.run()
            except KeyboardInterrupt:
                stop.set()
                run = prov.finish()
    except StationError as exc:
        run = db.session.get(Run, run.id)
        run.status = "interrupted"
        run.note = str(exc)[:500]
        db.session.commit()
        raise click.ClickException(f"station {spec.name}: {exc}") from exc
    summary = run_summary(run)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary["counts"].items())) or "no phones"
    click.echo(f"run {run.id} {run.status}: {counts}")
    for it in summary["items"]:
        if it["status"] != "done":
            where = f" at {it['resume_step']}" if it["resume_step"] else ""
            click.echo(f"  {it['serial'] or it['adb_serial']}: {it['status']}{where}: "
                       f"{it['message']}")
    if summary["counts"].get("done"):
        path = slips or Path(current_app.config["DATA_DIR"]) / "provisioning" / \
            f"run-{run.id}-slips.pdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(write_slips(run))
        click.echo(f"handover slips: {path}")
    if any(it["status"] != "done" for it in summary["items"]):
        click.echo(f"resume with: fleet provision --resume {run.id}")
    if as_json:
        click.echo(json.dumps(summary, default=str))
    if run.status != "finished":
        sys.exit(3)


@click.group("stations")
def stations_group():
    """Provisioning stations (local adb server, or SSH to a district PC)."""


@stations_group.command("add")
@click.argument("name")
@click.option("--adb-host", default="127.0.0.1", show_default=True)
@click.option("--adb-port", type=int, default=5037, show_default=True,
              help="adb server port (on the SSH host for an SSH station).")
@click.option("--ssh", "ssh_host", default=None, help="SSH host: makes an SSH station.")
@click.option("--ssh-port", type=int, default=22, show_default=True)
@click.option("--ssh-user", default=None)
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Private key (OpenSSH/PEM, no passphrase); stored encrypted.")
@click.option("--known-hosts", "known_hosts_file",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="known_hosts lines for the SSH host (e.g. from ssh-keyscan, checked "
                   "against the fingerprint the district PC shows).")
@click.option("--user", envvar="FLEET_CLI_USER")
@with_appcontext
def stations_add(name, adb_host, adb_port, ssh_host, ssh_port, ssh_user, key_file,
                 known_hosts_file, user):
    """Add a station."""
    from fleet.extensions import db
    from fleet.provisioning.operations import create_station

    data = {"kind": "ssh" if ssh_host else "local", "adb_host": adb_host, "adb_port": adb_port,
            "ssh_host": ssh_host, "ssh_port": ssh_port, "ssh_username": ssh_user,
            "private_key": key_file.read_text() if key_file else None,
            "known_hosts": known_hosts_file.read_text() if known_hosts_file else None}
    try:
        s = create_station(name, data, actor=cli_actor(user))
        db.session.commit()
    except FleetError as exc:
        _fail(exc)
    click.echo(f"station {s.name} ({s.kind}) added")


@stations_group.command("list")
@with_appcontext
def stations_list():
    """List stations."""
    from fleet.provisioning.operations import list_stations

    for s in list_stations():
        where = (f"ssh {s.ssh_username}@{s.ssh_host}:{s.ssh_port} -> adb :{s.adb_port}"
                 if s.kind == "ssh" else f"adb {s.adb_host}:{s.adb_port}")
        click.echo(f"{s.name:<20} {s.kind:<6} {where}")


def _profile_options(f):
    opts = [
        click.option("--channel", "channel_name", default=None),
        click.option("--package", "packages", multiple=True,
                     help="Package to take from the channel (default com.dhis2)."),
        click.option("--release", "release_ids", type=int, multiple=True),
        click.option("--pin-policy", type=click.Choice(["none", "profile", "random"])),
        click.option("--pin", default=None, help="Profile PIN (policy profile). Prefer "
                     "FLEET_PROFILE_PIN in the environment.", envvar="FLEET_PROFILE_PIN"),
        click.option("--pin-length", type=int, default=None),
        click.option("--require-encryption/--no-require-encryption", default=None),
        click.option("--location/--no-location", "location_on", default=None),
        click.option("--auto-time/--no-auto-time", default=None),
        click.option("--screen-off-timeout", "screen_off_timeout_s", type=int, default=None),
        click.option("--play-store", type=click.Choice(["leave", "no_auto_update",
                                                         "disabled"])),
        click.option("--grant", "grants", multiple=True, help="PACKAGE=PERMISSION"),
        click.option("--min-api", "min_api_level", type=int, default=None),
        click.option("--min-ram", "min_ram_mb", type=int, default=None),
        click.option("--min-free-storage", "min_free_storage_mb", type=int, default=None),
        click.option("--min-battery", type=int, default=None),
        click.option("--dhis2-settings", "dhis2_settings_profile", default=None),
        click.option("--capacity-check", type=click.Choice(["off", "warn", "block"])),
        click.option("--user", envvar="FLEET_CLI_USER"),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _profile_data(kw: dict) -> dict:
    data = {k: v for k, v in kw.items() if k not in ("grants", "user", "name")}
    data["packages"] = list(kw["packages"]) or None
    data["release_ids"] = list(kw["release_ids"]) or None
    if kw["grants"]:
        perms = []
        for g in kw["grants"]:
            if "=" not in g:
                raise click.BadParameter(f"{g}: use PACKAGE=PERMISSION", param_hint="--grant")
            pkg, perm = g.split("=", 1)
            perms.append({"package": pkg, "permission": perm})
        data["permissions"] = perms
    return {k: v for k, v in data.items() if v is not None}


@click.group("profiles")
def profiles_group():
    """Provisioning profiles (named, versioned, audited)."""


@profiles_group.command("add")
@click.argument("name")
@_profile_options
@with_appcontext
def profiles_add(name, **kw):
    """Create a profile."""
    from fleet.extensions import db
    from fleet.provisioning.operations import create_profile

    try:
        p = create_profile(name, _profile_data(kw), actor=cli_actor(kw["user"]))
        db.session.commit()
    except FleetError as exc:
        _fail(exc)
    click.echo(f"profile {p.name} v{p.version} created")


@profiles_group.command("update")
@click.argument("name")
@_profile_options
@with_appcontext
def profiles_update(name, **kw):
    """Change a profile (its version goes up)."""
    from fleet.extensions import db
    from fleet.provisioning.operations import find_profile, update_profile

    try:
        p = update_profile(find_profile(name), _profile_data(kw), actor=cli_actor(kw["user"]))
        db.session.commit()
    except FleetError as exc:
        _fail(exc)
    click.echo(f"profile {p.name} now v{p.version}")


@profiles_group.command("list")
@with_appcontext
def profiles_list():
    """List profiles."""
    from fleet.provisioning.operations import list_profiles

    for p in list_profiles():
        what = f"channel {p.channel_name}" if p.channel_name else \
            "releases " + ",".join(map(str, p.release_ids))
        click.echo(f"{p.name:<20} v{p.version:<3} {what}; PIN {p.pin_policy}; "
                   f"encryption {'required' if p.require_encryption else 'not required'}; "
                   f"capacity {p.capacity_check}")


@profiles_group.command("show")
@click.argument("name")
@with_appcontext
def profiles_show(name):
    """Show a profile as JSON (the PIN masked)."""
    from fleet.audit.operations import snapshot
    from fleet.provisioning.operations import find_profile

    try:
        p = find_profile(name)
    except FleetError as exc:
        _fail(exc)
    click.echo(json.dumps(snapshot(p), indent=2, default=str))


commands = (provision_command, stations_group, profiles_group)
