"""``fleet dhis2 ...``: configure DHIS2 servers, import org units and user groups, publish
Android settings profiles and APK versions. Every command calls the domain operations and
commits once at the end; a dry run commits nothing. Errors exit with status 1 and the
message."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext

from fleet.errors import FleetError
from fleet.inventory.cli import cli_actor

SERVER_OPTION = click.option("--server", default=None,
                             help="Server name (default: the default server).")
USER_OPTION = click.option("--user", envvar="FLEET_CLI_USER",
                           help="fleet user to record in the audit log.")


def _fail(exc: FleetError):
    from fleet.extensions import db

    db.session.rollback()
    raise click.ClickException(str(exc.message))


def _done(dry_run: bool) -> None:
    from fleet.extensions import db

    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()


@click.group("dhis2")
def dhis2_group():
    """DHIS2 connector: servers, imports, publishing."""


# ---- servers -------------------------------------------------------------------------------

@dhis2_group.group("servers")
def servers_group():
    """Configured DHIS2 servers."""


@servers_group.command("add")
@click.argument("name")
@click.option("--url", "base_url", required=True, help="DHIS2 root, https://dhis2.example.org")
@click.option("--auth", "auth_kind", type=click.Choice(["token", "basic"]), default="token",
              show_default=True)
@click.option("--token", envvar="FLEET_DHIS2_TOKEN", default=None,
              help="Personal access token (else $FLEET_DHIS2_TOKEN, else asked).")
@click.option("--username", default=None)
@click.option("--password", envvar="FLEET_DHIS2_PASSWORD", default=None,
              help="Password for --auth basic (else $FLEET_DHIS2_PASSWORD, else asked).")
@click.option("--ca-bundle", default=None, help="PEM CA bundle for a private CA.")
@click.option("--no-verify-tls", is_flag=True, help="Do not verify TLS (not recommended).")
@click.option("--timeout", "timeout_seconds", type=int, default=30, show_default=True,
              help="Read timeout, seconds.")
@click.option("--default", "is_default", is_flag=True, help="Make it the default server.")
@click.option("--update", is_flag=True, help="Change the server NAME if it exists.")
@USER_OPTION
@with_appcontext
def add_server_command(name, base_url, auth_kind, token, username, password, ca_bundle,
                       no_verify_tls, timeout_seconds, is_default, update, user):
    """Add (or with --update change) the DHIS2 server NAME. Secrets are read from the
    environment or asked for, and stored encrypted."""
    from sqlalchemy import select

    from fleet.dhis2 import operations as ops
    from fleet.dhis2.models import Dhis2Server
    from fleet.extensions import db

    existing = db.session.scalar(select(Dhis2Server).where(Dhis2Server.name == name))
    if existing is not None and not update:
        raise click.ClickException(f"server {name} exists; use --update to change it")
    if auth_kind == "token" and not token and existing is None:
        token = click.prompt("DHIS2 personal access token", hide_input=True)
    if auth_kind == "basic" and not password and existing is None:
        password = click.prompt(f"DHIS2 password for {username}", hide_input=True)
    data = {"name": name, "base_url": base_url, "auth_kind": auth_kind, "token": token,
            "username": username, "password": password, "ca_bundle": ca_bundle,
            "verify_tls": not no_verify_tls, "timeout_seconds": timeout_seconds,
            "is_default": is_default}
    try:
        if existing is None:
            server = ops.create_server(data, actor=cli_actor(user))
        else:
            server = ops.update_server(existing, data, actor=cli_actor(user))
    except FleetError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"{'updated' if existing else 'added'} DHIS2 server {server.name} "
               f"({server.base_url}){' [default]' if server.is_default else ''}")


@servers_group.command("list")
@with_appcontext
def list_servers_command():
    """List servers (secrets are never shown)."""
    from fleet.dhis2.operations import list_servers

    for s in list_servers():
        tls = "no TLS check" if not s.verify_tls else (f"CA {s.ca_bundle}" if s.ca_bundle
                                                       else "system CAs")
        click.echo(f"{s.name}\t{s.base_url}\t{s.auth_kind}\t{tls}"
                   + ("\tdefault" if s.is_default else ""))


@servers_group.command("check")
@click.argument("name", required=False)
@with_appcontext
def check_server_command(name):
    """Ask the server for /api/system/info (reads only)."""
    from fleet.dhis2 import operations as ops

    try:
        info = ops.check_server(ops.find_server(name))
    except FleetError as exc:
        _fail(exc)
    click.echo(f"DHIS2 {info.get('version')} ({info.get('systemName') or '-'})")


# ---- imports -------------------------------------------------------------------------------

@dhis2_group.command("import-orgunits")
@SERVER_OPTION
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--verbose", "-v", is_flag=True, help="List every change.")
@USER_OPTION
@with_appcontext
def import_org_units_command(server, dry_run, as_json, verbose, user):
    """Import the org unit hierarchy from DHIS2 (create, rename, move; never delete)."""
    from fleet.dhis2 import operations as ops
    from fleet.dhis2.importing import import_org_units

    bar = None

    def progress(stage, done, total):
        nonlocal bar
        if stage == "fetch":
            click.echo(f"fetched {done} org units" + (" (done)" if total else ""), err=True)
        elif total:
            if bar is None:
                bar = click.progressbar(length=total, label="applying", file=sys.stderr)
                bar.__enter__()
            bar.update(done - bar.pos)

    try:
        report = import_org_units(ops.find_server(server), actor=cli_actor(user),
                                  dry_run=dry_run, progress=progress)
    except FleetError as exc:
        _fail(exc)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    _done(dry_run)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return
    if verbose or dry_run:
        for row in report.rows():
            changes = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in
                                row["changes"].items())
            click.echo(f"{row['action']:8} {row['uid']} {row['name'] or ''}"
                       + (f" ({changes})" if changes else ""))
    s = report.summary()
    click.echo(f"{s['fetched']} org units in DHIS2: {s['created']} new, {s['linked']} linked, "
               f"{s['updated']} updated ({s['moved']} moved), {s['unchanged']} unchanged, "
               f"{s['missing']} missing from DHIS2 (kept)" + (" (dry run)" if dry_run else ""))


@dhis2_group.command("import-usergroups")
@SERVER_OPTION
@click.option("--dry-run", is_flag=True)
@USER_OPTION
@with_appcontext
def import_user_groups_command(server, dry_run, user):
    """Import DHIS2 user groups (for channel targeting)."""
    from fleet.dhis2 import operations as ops
    from fleet.dhis2.importing import import_user_groups

    try:
        report = import_user_groups(ops.find_server(server), actor=cli_actor(user),
                                    dry_run=dry_run)
    except FleetError as exc:
        _fail(exc)
    _done(dry_run)
    s = report.summary()
    click.echo(f"user groups: {s['created']} new, {s['updated']} updated, {s['unchanged']} "
               f"unchanged, {s['missing']} missing from DHIS2 (kept)"
               + (" (dry run)" if dry_run else ""))


# ---- settings profiles and publishing ------------------------------------------------------

@dhis2_group.group("profiles")
def profiles_group():
    """Android settings profiles."""


def _tristate(value):
    return None if value is None else value == "true"


@profiles_group.command("set")
@click.argument("name")
@click.option("--encrypt-db", type=click.Choice(["true", "false"]), default=None)
@click.option("--allow-screen-capture", type=click.Choice(["true", "false"]), default=None)
@click.option("--reserved-values", type=int, default=None)
@click.option("--data-sync", default=None, help="30m, 1h, 6h, 12h, 24h or manual")
@click.option("--metadata-sync", default=None, help="1h, 6h, 12h, 24h, 7d or manual")
@click.option("--tei-download", type=int, default=None)
@click.option("--description", default=None)
@USER_OPTION
@with_appcontext
def set_profile_command(name, encrypt_db, allow_screen_capture, reserved_values, data_sync,
                        metadata_sync, tei_download, description, user):
    """Create the profile NAME, or change the given settings of it (new version)."""
    from fleet.dhis2 import operations as ops
    from fleet.errors import NotFound
    from fleet.extensions import db

    given = {"encrypt_db": _tristate(encrypt_db),
             "allow_screen_capture": _tristate(allow_screen_capture),
             "reserved_values": reserved_values, "data_sync": data_sync,
             "metadata_sync": metadata_sync, "tei_download": tei_download}
    data = {k: v for k, v in given.items() if v is not None}
    if description is not None:
        data["description"] = description
    try:
        try:
            row = ops.update_settings_profile(ops.find_profile(name), data, actor=cli_actor(user))
        except NotFound:
            row = ops.create_settings_profile({"name": name, **data}, actor=cli_actor(user))
    except FleetError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"profile {row.name} v{row.version}: " + ", ".join(
        f"{k}={v}" for k, v in row.values().items() if v is not None))


@profiles_group.command("list")
@with_appcontext
def list_profiles_command():
    """List settings profiles."""
    from fleet.dhis2.operations import list_profiles

    for row in list_profiles():
        click.echo(f"{row.name}\tv{row.version}\t" + ", ".join(
            f"{k}={v}" for k, v in row.values().items() if v is not None))


@dhis2_group.command("publish-settings")
@click.argument("profile")
@SERVER_OPTION
@click.option("--dry-run", is_flag=True, help="Show the values that would change.")
@USER_OPTION
@with_appcontext
def publish_settings_command(profile, server, dry_run, user):
    """Publish settings PROFILE into ANDROID_SETTINGS_APP (server-wide: every phone syncing
    with that DHIS2 gets them), then read back and verify."""
    from fleet.dhis2 import operations as ops
    from fleet.dhis2.publishing import publish_settings_profile

    try:
        result = publish_settings_profile(ops.find_server(server), ops.find_profile(profile),
                                          actor=cli_actor(user), dry_run=dry_run)
    except FleetError as exc:
        _fail(exc)
    _done(dry_run)
    click.echo(f"ANDROID_SETTINGS_APP on {result.server} (server-wide), profile "
               f"{result.profile} v{result.profile_version}:")
    for c in result.changes:
        click.echo(f"  {c['key']}.{c['path']}: {c['old']!r} -> {c['new']!r}")
    if not result.changes:
        click.echo("  no change: DHIS2 already holds these values")
    if dry_run:
        click.echo("dry run: nothing written")
    else:
        click.echo("written and verified" if result.written else "nothing to write (verified)")


@dhis2_group.command("publish-apks")
@SERVER_OPTION
@click.option("--dry-run", is_flag=True, help="Show the APK_DISTRIBUTION diff only.")
@click.option("--take-default", is_flag=True,
              help="Let fleet's default channel replace a default entry fleet did not create.")
@USER_OPTION
@with_appcontext
def publish_apks_command(server, dry_run, take_default, user):
    """Publish every released channel's Capture app into APK_DISTRIBUTION."""
    from fleet.dhis2 import operations as ops
    from fleet.dhis2.channels import channel_entries
    from fleet.dhis2.publishing import publish_apk_distribution

    actor = cli_actor(user)
    try:
        target = ops.find_server(server)
        built = channel_entries(actor=actor, dry_run=dry_run)
        result = publish_apk_distribution(target, built.entries, actor=actor, dry_run=dry_run,
                                          take_default=take_default)
    except FleetError as exc:
        _fail(exc)
    _done(dry_run)
    for name, why in built.skipped:
        click.echo(f"skipped channel {name}: {why}")
    d = result.diff
    for e in d["added"]:
        click.echo(f"+ {e['version']} {e['downloadURL']} groups={e['userGroups']}"
                   + (" default" if e["isDefault"] else ""))
    for _before, after in d["changed"]:
        click.echo(f"~ {after['version']} {after['downloadURL']}")
    for e in d["removed"]:
        click.echo(f"- {e['version']} {e['downloadURL']}")
    click.echo(f"{len(d['added'])} added, {len(d['changed'])} changed, {len(d['removed'])} "
               f"removed, {d['unchanged']} unchanged, {d['kept']} not fleet's (kept); "
               f"latestVersion {d['latest_after']}"
               + (" (dry run)" if dry_run else (" written" if result.written else
                                                " (nothing to write)")))


commands = (dhis2_group,)
