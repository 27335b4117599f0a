"""``fleet users ...`` and ``fleet tokens ...``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from fleet.errors import FleetError


@click.group("users")
def users_group():
    """Staff accounts."""


@users_group.command("create")
@click.argument("username")
@click.option(
    "--role", type=click.Choice(["admin", "logistics", "technician", "viewer"]), required=True
)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="FLEET_NEW_USER_PASSWORD",
)
@click.option("--name", "display_name", default="")
@with_appcontext
def create_user_command(username, role, password, display_name):
    """Create a user."""
    from fleet.auth.operations import create_user
    from fleet.extensions import db

    try:
        create_user(username, password, role, actor=None, display_name=display_name)
    except FleetError as exc:
        raise click.ClickException(str(exc.message)) from exc
    db.session.commit()
    click.echo(f"user {username} created ({role})")


@users_group.command("list")
@with_appcontext
def list_users_command():
    """List users."""
    from fleet.auth.models import User
    from fleet.extensions import db

    for u in db.session.scalars(select(User).order_by(User.username)):
        click.echo(f"{u.username:20} {u.role:12} {'active' if u.active else 'inactive'}")


@click.group("tokens")
def tokens_group():
    """API tokens."""


@tokens_group.command("issue")
@click.argument("username")
@click.option("--name", required=True)
@click.option("--expires-days", type=int, default=None)
@with_appcontext
def issue_token_command(username, name, expires_days):
    """Issue an API token for USERNAME and print it (once)."""
    from fleet.auth.models import User
    from fleet.auth.operations import issue_token
    from fleet.extensions import db

    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username}")
    _token, plain = issue_token(user, name, actor=None, expires_days=expires_days)
    db.session.commit()
    click.echo(plain)


commands = (users_group, tokens_group)
