"""fleet: device fleet, SIM, agreement, APK distribution and provisioning service for DHIS2
health campaigns. ``create_app`` builds the Flask application; nothing is built at import time."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
#: Jinja templates live at the repository root (STYLE.md); an installed wheel carries a copy
#: under the package (``fleet/templates``), used when the root folder is not there.
TEMPLATE_DIR = (
    PACKAGE_DIR.parent / "templates"
    if (PACKAGE_DIR.parent / "templates").is_dir()
    else PACKAGE_DIR / "templates"
)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application: config, extensions, every domain's blueprints and CLI commands.

    Args:
        test_config: mapping applied last over defaults, instance config and FLEET_* env vars.
    """
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(TEMPLATE_DIR),
        static_folder="static",
    )
    from fleet.config import load_config

    load_config(app, test_config)
    from fleet.forms import IdConverter

    app.url_map.converters["int"] = IdConverter  # before any route: ids 1..2**31-1, else 404
    _init_logging(app)
    _init_extensions(app)
    _register_domains(app)
    from fleet import web

    web.init_app(app)
    if int(app.config.get("PROXY_COUNT") or 0):  # behind N trusted proxies (docs/deployment.md)
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)
    return app


def _init_logging(app: Flask) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=app.config.get("LOG_LEVEL", "INFO"),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _init_extensions(app: Flask) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from fleet.extensions import babel, csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Let SQLAlchemy, not pysqlite, begin transactions, so SAVEPOINT works (SQLAlchemy
            # docs, "Serializable isolation / Savepoints / Transactional DDL" for pysqlite).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql(_sqlite_begin_statement())

    assert isinstance(engine, Engine)
    migrate.init_app(app, db, directory=str(PACKAGE_DIR / "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # The Limiter object is module-global; its on/off switch follows the app serving the
    # request (a process that builds several apps, as the tests do, must not share it).
    app.before_request(lambda: setattr(limiter, "enabled",
                                       bool(app.config.get("RATELIMIT_ENABLED", True))))
    limiter.init_app(app)  # before CSRF: every login attempt counts, token or not
    csrf.init_app(app)
    from fleet.i18n import select_locale, select_timezone

    babel.init_app(
        app,
        locale_selector=select_locale,
        timezone_selector=select_timezone,
        default_translation_directories=str(PACKAGE_DIR / "translations"),
    )


def _sqlite_begin_statement() -> str:
    """BEGIN IMMEDIATE for web requests that change things, plain BEGIN otherwise.

    In WAL mode a deferred transaction that read, then writes after another connection
    committed, fails at once with SQLITE_BUSY_SNAPSHOT (the busy timeout cannot help). A
    request with an unsafe method (POST, PUT, PATCH, DELETE) takes the write lock at BEGIN, so
    concurrent writers queue on the busy timeout instead. Reads, CLI commands and scheduled
    jobs begin deferred: a job that holds a transaction across slow device I/O must not hold
    the write lock meanwhile. See sqlite.org/lang_transaction.html and sqlite.org/wal.html.
    """
    from flask import has_request_context, request

    if has_request_context() and request.method in ("POST", "PUT", "PATCH", "DELETE"):
        return "BEGIN IMMEDIATE"
    return "BEGIN"


def _register_domains(app: Flask) -> None:
    """Register every domain's blueprints and CLI commands, explicitly."""
    from fleet import api_docs, jobs
    from fleet.agreements import api as agreements_api
    from fleet.agreements import views as agreements_views
    from fleet.apk import api as apk_api
    from fleet.apk import cli as apk_cli
    from fleet.apk import downloads as apk_downloads
    from fleet.apk import views as apk_views
    from fleet.audit import views as audit_views
    from fleet.auth import api as auth_api
    from fleet.auth import cli as auth_cli
    from fleet.auth import views as auth_views
    from fleet.backup import cli as backup_cli
    from fleet.capacity import api as capacity_api
    from fleet.capacity import cli as capacity_cli
    from fleet.capacity import views as capacity_views
    from fleet.dhis2 import api as dhis2_api
    from fleet.dhis2 import cli as dhis2_cli
    from fleet.dhis2 import views as dhis2_views
    from fleet.extensions import api
    from fleet.inventory import api as inventory_api
    from fleet.inventory import cli as inventory_cli
    from fleet.inventory import views as inventory_views
    from fleet.labels import api as labels_api
    from fleet.labels import cli as labels_cli
    from fleet.labels import views as labels_views
    from fleet.provisioning import api as provisioning_api
    from fleet.provisioning import cli as provisioning_cli
    from fleet.provisioning import views as provisioning_views
    from fleet.provisioning.devsim.cli import devsim
    from fleet.rehearsal import cli as rehearsal_cli
    from fleet.reports import api as reports_api
    from fleet.reports import cli as reports_cli
    from fleet.reports import metrics as reports_metrics
    from fleet.reports import views as reports_views

    app.config.update(
        API_TITLE="fleet",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
    )
    from fleet.apiutil import ErrorSchema

    api.ERROR_SCHEMA = ErrorSchema  # the document describes fleet's envelope, not smorest's
    api.init_app(app, spec_kwargs={
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "session"},
        }},
        "security": [{"bearer": []}, {"session": []}],
    })
    for blp in (*apk_api.blueprints, auth_api.blp, *inventory_api.blueprints,
                *capacity_api.blueprints,
                *dhis2_api.blueprints, agreements_api.blp, labels_api.blp,
                *provisioning_api.blueprints, reports_api.blp):
        api.register_blueprint(blp)
    for bp in (apk_views.bp, apk_downloads.bp, auth_views.bp, audit_views.bp, inventory_views.bp,
               capacity_views.bp, api_docs.bp,
               dhis2_views.bp, agreements_views.bp, labels_views.bp,
               provisioning_views.bp, reports_views.bp,
               reports_metrics.bp):
        app.register_blueprint(bp)
    for command in (*apk_cli.commands, *auth_cli.commands, *inventory_cli.commands,
                    capacity_cli.capacity,
                    *dhis2_cli.commands, *labels_cli.commands, *provisioning_cli.commands, devsim,
                    *reports_cli.commands, *jobs.commands, *backup_cli.commands,
                    *rehearsal_cli.commands):
        app.cli.add_command(command)
    reports_metrics.init_app(app)
