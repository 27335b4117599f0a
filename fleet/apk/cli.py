"""``fleet apk ...``: upload, list, approve, release, channels and tokens from the shell."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from fleet.errors import FleetError
from fleet.inventory.cli import cli_actor

USER_OPTION = click.option("--user", envvar="FLEET_CLI_USER",
                           help="fleet user to act as (recorded in the audit log; approval "
                                "needs one).")


def _fail(exc: FleetError):
    from fleet.extensions import db

    db.session.rollback()
    raise click.ClickException(str(exc.message))


@click.group("apk")
def apk_group():
    """The vetted APK repository."""


@apk_group.command("upload")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--notes", default="", help="Release notes.")
@USER_OPTION
@with_appcontext
def upload_command(path, notes, user):
    """Upload and vet the APK at PATH (streamed, never read whole into memory).

    Exit status 1 when vetting rejects it."""
    from fleet.apk import operations as ops
    from fleet.extensions import db

    try:
        with open(path, "rb") as fh:
            release, created = ops.upload_apk(fh, file_name=path.name, actor=cli_actor(user),
                                              release_notes=notes)
        db.session.commit()
    except FleetError as exc:
        _fail(exc)
    click.echo(f"release {release.id}: {release.package} {release.version_name} "
               f"(versionCode {release.version_code}) {release.status}"
               f"{'' if created else ' (already uploaded)'}")
    click.echo(f"sha256 {release.sha256}  {release.size} bytes")
    for check in release.checks:
        click.echo(f"  {check['status']:4}  {check['name']}: {check['reason']}")
    if release.status == "rejected":
        raise SystemExit(1)


@apk_group.command("list")
@click.option("--package", default=None)
@with_appcontext
def list_command(package):
    """List releases, newest first."""
    from sqlalchemy import select

    from fleet.apk.models import Release
    from fleet.extensions import db

    stmt = select(Release).order_by(Release.id.desc())
    if package:
        stmt = stmt.where(Release.package == package)
    for r in db.session.scalars(stmt):
        click.echo(f"{r.id:5}  {r.status:10}  {r.package or '-'}  {r.version_name or '-'}  "
                   f"({r.version_code})  {r.sha256[:12]}  {r.size} B  by {r.uploaded_by}")


def _release_action(name, fn, release_id, user, **kw):
    from fleet.apk import operations as ops
    from fleet.extensions import db

    try:
        release = ops.get_release(release_id)
        result = fn(release, actor=cli_actor(user), **kw)
        db.session.commit()
    except FleetError as exc:
        _fail(exc)
    click.echo(f"release {release.id} {name}: {release.status}")
    return result


@apk_group.command("testing")
@click.argument("release_id", type=int)
@USER_OPTION
@with_appcontext
def testing_command(release_id, user):
    """Move a vetted release into testing."""
    from fleet.apk import operations as ops

    _release_action("in testing", ops.start_testing, release_id, user)


@apk_group.command("approve")
@click.argument("release_id", type=int)
@USER_OPTION
@with_appcontext
def approve_command(release_id, user):
    """Approve a release in testing (four-eyes: --user must differ from the uploader)."""
    from fleet.apk import operations as ops

    _release_action("approved", ops.approve_release, release_id, user)


@apk_group.command("release")
@click.argument("release_id", type=int)
@click.option("--channel", required=True, help="Channel name.")
@click.option("--rollout", type=click.IntRange(0, 100), default=100, show_default=True,
              help="Percentage of the channel's devices.")
@USER_OPTION
@with_appcontext
def release_command(release_id, channel, rollout, user):
    """Point CHANNEL at release RELEASE_ID."""
    from fleet.apk import operations as ops
    from fleet.extensions import db

    try:
        release = ops.get_release(release_id)
        chan = ops.find_channel(channel)
        ops.release_to_channel(release, chan, actor=cli_actor(user), rollout_percent=rollout)
        db.session.commit()
    except FleetError as exc:
        _fail(exc)
    click.echo(f"{chan.name}: {release.package} {release.version_name} "
               f"(versionCode {release.version_code}) at {rollout} %")


@apk_group.command("channels")
@with_appcontext
def channels_command():
    """List channels and what each serves."""
    from sqlalchemy import select

    from fleet.apk.models import Channel
    from fleet.extensions import db

    for ch in db.session.scalars(select(Channel).order_by(Channel.name)):
        flags = ",".join(f for f, on in (("test", ch.is_test), ("default", ch.is_default)) if on)
        click.echo(f"{ch.name}{f' [{flags}]' if flags else ''}")
        for p in ch.pointers:
            click.echo(f"  {p.package} {p.release.version_name} ({p.release.version_code}) "
                       f"{p.rollout_percent} %")


@apk_group.command("channel-add")
@click.argument("name")
@click.option("--test", "is_test", is_flag=True, help="A test channel.")
@click.option("--default", "is_default", is_flag=True, help="The default channel.")
@click.option("--description", default="")
@USER_OPTION
@with_appcontext
def channel_add_command(name, is_test, is_default, description, user):
    """Create a channel."""
    from fleet.apk import operations as ops
    from fleet.extensions import db

    try:
        ch = ops.create_channel({"name": name, "is_test": is_test, "is_default": is_default,
                                 "description": description}, actor=cli_actor(user))
        db.session.commit()
    except FleetError as exc:
        _fail(exc)
    click.echo(f"channel {ch.id} {ch.name} created")


@apk_group.command("token")
@click.option("--channel", required=True, help="Channel name.")
@click.option("--label", default="")
@click.option("--expires-days", type=int, default=None)
@USER_OPTION
@with_appcontext
def token_command(channel, label, expires_days, user):
    """Issue a channel download token; prints it once with the install page URL."""
    from flask import url_for

    from fleet.apk import operations as ops
    from fleet.extensions import db

    try:
        chan = ops.find_channel(channel)
        _token, plain = ops.issue_download_token(channel=chan, label=label,
                                                 expires_days=expires_days, actor=cli_actor(user))
        db.session.commit()
    except FleetError as exc:
        _fail(exc)
    click.echo(plain)
    try:
        click.echo(url_for("apk.install", channel=chan.name, token=plain, _external=True),
                   err=True)
    except RuntimeError:  # no SERVER_NAME: the path is enough
        click.echo(f"/install/{chan.name}?token={plain}", err=True)


commands = (apk_group,)
