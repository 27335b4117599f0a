"""Health report test fixtures: real adb servers, simulated phones and a real sshd
(``devsim_fixtures``, ``sshd_fixtures`` from tests/provisioning), the fixture folder, a device
with a push token, and stored reports."""

import sys
import uuid
from pathlib import Path

import pytest

_PROV = str(Path(__file__).resolve().parents[1] / "provisioning")
if _PROV not in sys.path:
    sys.path.insert(0, _PROV)

from devsim_fixtures import adb_binary, adb_server, devsim, make_adb_server  # noqa: E402, F401
from sshd_fixtures import sshd  # noqa: E402, F401

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture()
def fixture_text():
    """fixture_text("real/x.txt") -> the file's text."""

    def read(name: str) -> str:
        return (FIXTURES / name).read_text(encoding="utf-8")

    return read


@pytest.fixture()
def pushing_device(create_device, db):
    """(device, plain push token) for a fresh device."""
    from fleet.reports import operations as ops

    device = create_device()
    _tok, plain = ops.issue_token(device, actor=None)
    db.session.commit()
    return device, plain


@pytest.fixture()
def push(db):
    """push(device, **fields) -> a stored HealthReport (``record_report``, compliance
    refreshed) that passes every rule it can judge, with ``fields`` changed."""
    from fleet.reports import operations as ops

    def store(device, **fields):
        data = {"report_id": uuid.uuid4().hex, "battery_level": 80, "battery_health": "good",
                "storage_total_mb": 20000, "storage_free_mb": 8000,
                "crypto_state": "encrypted", "screen_lock_set": True, "api_level": 30,
                "packages": {}}
        data.update(fields)
        return ops.record_report(device, data, source="push")

    return store
