"""Fixtures for backup and restore tests: whole fleet instances (own DATA_DIR, own database)
to fill through the operations and drive through the ``fleet`` console script.

The database kind follows the rest of the suite: SQLite (the embedded default,
``<DATA_DIR>/fleet.sqlite3``) unless FLEET_TEST_DATABASE_URL names a PostgreSQL server; then
each instance gets a scratch database with a unique name, dropped afterwards.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from apk_fixtures import apk_factory, signing_keys  # noqa: E402, F401
from backup_testing import Instance, fill  # noqa: E402


class InstanceMaker:
    """Makes Instances under ``root``; with FLEET_TEST_DATABASE_URL each gets a new
    PostgreSQL database (unique name). :meth:`cleanup` closes them and drops the databases."""

    def __init__(self, root: Path):
        self.root = root
        self.base = os.environ.get("FLEET_TEST_DATABASE_URL")
        self.made: list[Instance] = []
        self.databases: list[str] = []
        self.admin = None
        if self.base:
            url = make_url(self.base.replace("postgresql://", "postgresql+psycopg://", 1))
            self.admin = create_engine(url.set(database="postgres"),
                                       isolation_level="AUTOCOMMIT")

    def __call__(self, name: str) -> Instance:
        url = ""
        if self.base:
            db_name = f"fleet_bk_{uuid.uuid4().hex[:12]}"
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{db_name}"'))
            self.databases.append(db_name)
            url = make_url(self.base).set(database=db_name).render_as_string(
                hide_password=False)
        inst = Instance(self.root / name, url)
        self.made.append(inst)
        return inst

    def cleanup(self) -> None:
        for inst in self.made:
            inst.close()
        if self.admin is not None:
            with self.admin.connect() as conn:
                for db_name in self.databases:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            self.admin.dispose()


@pytest.fixture()
def new_instance(tmp_path):
    """new_instance(name) -> an Instance with nothing in it yet (no database tables)."""
    maker = InstanceMaker(tmp_path)
    yield maker
    maker.cleanup()


@pytest.fixture(scope="module")
def filled(tmp_path_factory, apk_factory):  # noqa: F811
    """(source Instance, Filled, backup tar Path, rows at backup time): an instance filled by
    :func:`fill` and backed up once per module with ``fleet backup``. Tests that change the
    source put it back as it was (a forced restore of the tar)."""
    root = tmp_path_factory.mktemp("backup-src")
    maker = InstanceMaker(root)
    src = maker("src")
    apk = apk_factory.build(package="com.dhis2", version_code=3040100, version_name="3.4.1")
    data = fill(src, apk)
    out = root / "backups" / "fleet.tar"
    done = src.fleet("backup", "--out", out)
    yield src, data, out, done.stdout
    maker.cleanup()
