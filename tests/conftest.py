"""Shared fixtures: ``app``, ``db``, ``client``, ``runner``, logged-in clients and factories.

The database is SQLite (a file per xdist worker) unless FLEET_TEST_DATABASE_URL names a
PostgreSQL server; then each worker gets its own database on it. Migrations run once per
worker; each test runs inside a transaction rolled back at the end (SAVEPOINTs for the
commits the code under test makes).
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import pytest
from fleet_testing import (
    CHROMIUM_ARGS,
    PASSWORD,
    make_iccid,
    make_imei,  # noqa: F401
    make_test_app,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import scoped_session, sessionmaker

from fleet.extensions import db as _db


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _admin_engine(url):
    return create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")


def _database_url(tmp_root: Path) -> str:
    """SQLite file, or a fresh PostgreSQL database named for this run and worker (several
    runs can share one server without dropping each other's databases)."""
    base = os.environ.get("FLEET_TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{tmp_root / 'fleet-test.sqlite3'}"
    url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", f"p{os.getpid()}")[:8]
    name = f"{url.database}_{run}_{_worker()}"
    admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_database(url_text: str) -> None:
    url = make_url(url_text)
    if url.get_backend_name() != "postgresql":
        return
    admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def app_root(tmp_path_factory):
    root = tmp_path_factory.mktemp(f"fleet-{_worker()}")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def app(app_root):
    from fleet.cli import upgrade_database

    url = _database_url(app_root)
    application = make_test_app(app_root / "data", url)
    with application.app_context():
        upgrade_database()
    yield application
    with application.app_context():
        _db.engine.dispose()
    _drop_database(url)


@pytest.fixture()
def db(app):
    """The database, inside a transaction rolled back after the test."""
    with app.app_context():
        connection = _db.engine.connect()
        outer = connection.begin()
        original = _db.session
        # A plain Session bound to the connection: Flask-SQLAlchemy's own Session picks the
        # engine by bind key and would step outside the test transaction.
        _db.session = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        )
        try:
            yield _db
        finally:
            _db.session.remove()
            _db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture()
def client(app, db):
    return app.test_client()


@pytest.fixture()
def runner(app, db):
    return app.test_cli_runner()


_seq = itertools.count(1)


@pytest.fixture()
def create_user(db):
    from fleet.auth.operations import create_user as _create

    def make(role="admin", username=None, password=PASSWORD):
        user = _create(username or f"{role}{next(_seq)}", password, role, actor=None)
        db.session.commit()
        return user

    return make


@pytest.fixture()
def login(client, create_user):
    """login(role) -> the user, with ``client`` logged in as that user."""

    def do(role="admin"):
        user = create_user(role)
        resp = client.post("/auth/login", data={"username": user.username, "password": PASSWORD})
        assert resp.status_code == 302, resp.data
        return user

    return do


@pytest.fixture()
def token_for(create_user, db):
    """token_for(role) -> a bearer token string for a new user of that role."""
    from fleet.auth.operations import issue_token

    def make(role="admin"):
        user = create_user(role)
        _tok, plain = issue_token(user, "test", actor=None)
        db.session.commit()
        return plain

    return make


@pytest.fixture()
def create_org_unit(db):
    from fleet.inventory.operations import create_org_unit as _create

    def make(name=None, parent=None, **kw):
        unit = _create(
            {
                "name": name or f"Unit {next(_seq)}",
                "parent_id": parent.id if parent else None,
                **kw,
            },
            actor=None,
        )
        db.session.commit()
        return unit

    return make


@pytest.fixture()
def district(create_org_unit):
    """Country > region > district, returns the district."""
    country = create_org_unit("Senegal")
    region = create_org_unit("Dakar Region", parent=country)
    return create_org_unit("Dakar", parent=region)


@pytest.fixture()
def create_holder(db):
    from fleet.inventory.operations import create_holder as _create

    def make(name=None, **kw):
        holder = _create({"name": name or f"Worker {next(_seq)}", **kw}, actor=None)
        db.session.commit()
        return holder

    return make


@pytest.fixture()
def create_device(db):
    from fleet.inventory.operations import register_device

    def make(**kw):
        n = next(_seq)
        data = {
            "imei": make_imei(n + 100000),
            "manufacturer": "Samsung",
            "model": "SM-A125F",
            "android_version": "11",
            "api_level": 30,
            "ram_mb": 3072,
            "storage_gb": 32,
        }
        data.update(kw)
        device = register_device(data, actor=None)
        db.session.commit()
        return device

    return make


@pytest.fixture()
def create_sim(db):
    from fleet.inventory.operations import register_sim

    def make(**kw):
        n = next(_seq)
        data = {"iccid": make_iccid(n + 500000), "carrier": "Orange"}
        data.update(kw)
        sim = register_sim(data, actor=None)
        db.session.commit()
        return sim

    return make


DB_FIXTURES = {"db", "app", "client", "runner", "live_server"}


def pytest_collection_modifyitems(config, items):
    """Mark every test that touches the database ``db`` so `make test` runs those again on
    PostgreSQL."""
    for item in items:
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """fleet served over HTTPS (self-signed) from a thread, with CSRF and secure cookies on as
    in production, on its own SQLite file. Yields (base_url, admin username, password)."""
    import threading

    from werkzeug.serving import make_server

    from fleet.cli import upgrade_database
    from fleet.server import ensure_self_signed_cert

    root = tmp_path_factory.mktemp("live")
    application = make_test_app(
        root,
        f"sqlite:///{root / 'live.sqlite3'}",
        TESTING=False,
        WTF_CSRF_ENABLED=True,
        SESSION_COOKIE_SECURE=True,
        REMEMBER_COOKIE_SECURE=True,
    )
    with application.app_context():
        upgrade_database()
        from fleet.auth.operations import create_user as _create

        _create("admin", PASSWORD, "admin", actor=None)
        _db.session.commit()
    cert, key = root / "cert.pem", root / "key.pem"
    ensure_self_signed_cert(cert, key)
    server = make_server(
        "127.0.0.1", 0, application, threaded=True, ssl_context=(str(cert), str(key))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.fleet_app = application
    yield f"https://localhost:{server.server_port}", server
    server.shutdown()


@pytest.fixture(scope="module")
def chromium():
    """Debian's headless Chromium driven by Playwright. Fails (never skips) when missing."""
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(exe).exists(), "Debian chromium is required: apt-get install chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
