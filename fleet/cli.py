"""The ``fleet`` console script: Flask's CLI group over ``create_app`` plus fleet's own
commands (``init``, ``serve``, and every domain's commands registered by the factory)."""

from __future__ import annotations

import os
import secrets
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext


def _create_app():
    from fleet import create_app

    return create_app()


@click.group(
    cls=FlaskGroup, create_app=_create_app, add_version_option=False, add_default_commands=False
)
@click.version_option(package_name="fleet")
def main():
    """fleet: devices, SIMs, agreements, APKs and provisioning for DHIS2 campaigns.

    Configuration: FLEET_* environment variables (FLEET_DATABASE_URL, FLEET_DATA_DIR, ...) or
    <instance>/config.py; see README.md.
    """


def upgrade_database() -> None:
    """Apply every Alembic migration (creates the database on first run)."""
    from flask_migrate import upgrade

    upgrade(directory=current_app.extensions["migrate"].directory, revision="heads")


@main.command("init")
@click.option(
    "--admin-username",
    default=lambda: os.environ.get("FLEET_ADMIN_USERNAME", "admin"),
    show_default="admin or $FLEET_ADMIN_USERNAME",
)
@with_appcontext
def init_command(admin_username: str):
    """Create or upgrade the database and the first admin (idempotent, no prompts).

    The admin password comes from FLEET_ADMIN_PASSWORD; without it a random one is generated
    and printed once.
    """
    from fleet.auth.operations import ensure_admin
    from fleet.extensions import db

    wait_for_database()
    upgrade_database()
    click.echo(f"database ready: {_safe_url(current_app.config['SQLALCHEMY_DATABASE_URI'])}")
    password = os.environ.get("FLEET_ADMIN_PASSWORD") or ""
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)
    user, created = ensure_admin(admin_username, password)
    db.session.commit()
    if created:
        click.secho(f"first admin created: username '{user.username}'", fg="green")
        if generated:
            click.secho(
                f"  password: {password}   (shown once; change it after logging in)", fg="yellow"
            )
        else:
            click.echo("  password: the value of FLEET_ADMIN_PASSWORD")
    else:
        click.echo(f"admin account exists: '{user.username}' (password unchanged)")


def wait_for_database() -> None:
    """Connect to the configured database, retrying with exponential backoff (0.5 s, 1 s, 2 s,
    ... capped at 10 s) up to config DB_CONNECT_RETRIES times (default 5, about 15 s in all),
    for a PostgreSQL server that starts after fleet. Raises click.ClickException (exit 1) with
    the URL (password hidden) and the driver's reason when every attempt failed."""
    import time

    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from fleet.extensions import db

    retries = max(0, int(current_app.config.get("DB_CONNECT_RETRIES", 5)))
    url = _safe_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    for attempt in range(retries + 1):
        try:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        except OperationalError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            if attempt == retries:
                raise click.ClickException(
                    f"cannot connect to the database {url} after {retries + 1} attempts: "
                    f"{reason}. Check FLEET_DATABASE_URL and that the server is running."
                ) from None
            delay = min(10.0, 0.5 * 2**attempt)
            click.echo(
                f"database {url} not reachable ({reason}); retry {attempt + 1}/{retries} "
                f"in {delay:g} s",
                err=True,
            )
            time.sleep(delay)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.command("serve")
@click.option("--host", default=None, help="Address to bind (default FLEET_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default FLEET_PORT, 8443).")
@click.option("--workers", type=int, default=None, help="gunicorn worker processes.")
@click.option("--no-tls", is_flag=True, help="Plain HTTP (only behind a TLS-terminating proxy).")
@click.option(
    "--init/--no-init", "do_init", default=True, show_default=True, help="Run `fleet init` first."
)
@with_appcontext
def serve_command(host, port, workers, no_tls, do_init):
    """Serve fleet over HTTPS with gunicorn (self-signed certificate made on first run)."""
    from fleet.server import run_gunicorn, tls_paths

    app = current_app._get_current_object()
    if do_init:
        ctx = click.get_current_context()
        ctx.invoke(init_command)
    else:
        wait_for_database()
    host = host or app.config["HOST"]
    port = port or int(app.config["PORT"])
    cert = key = None
    if not no_tls:
        cert, key, created = tls_paths(app)
        if created:
            click.echo(f"self-signed TLS certificate created: {cert}")
    scheme = "http" if no_tls else "https"
    shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    click.secho(f"fleet serving on {scheme}://{shown_host}:{port}/  (Ctrl-C to stop)", fg="green")
    sys.stdout.flush()
    from fleet.extensions import db

    db.session.remove()  # end this process's transactions and close its connections:
    db.engine.dispose()  # gunicorn forks workers, which must not share SQLite handles
    if app.config.get("SCHEDULER_IN_SERVER"):
        _start_embedded_scheduler()
    run_gunicorn(
        app,
        host=host,
        port=port,
        workers=workers or int(app.config["WORKERS"]),
        certfile=cert,
        keyfile=key,
    )


def _start_embedded_scheduler() -> None:
    """The embedded default runs the periodic jobs beside the web workers: one `fleet
    scheduler` child process (never one per gunicorn worker), stopped when serve exits.
    Deployments with several app processes set FLEET_SCHEDULER_IN_SERVER=false and run one
    `fleet scheduler` themselves (docs/health.md)."""
    import atexit
    import subprocess

    child = subprocess.Popen([sys.executable, "-m", "fleet.cli", "scheduler"])
    click.echo(f"scheduler started (pid {child.pid})")

    def stop():
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()

    atexit.register(stop)


if __name__ == "__main__":  # pragma: no cover
    main()
