"""``fleet rehearse`` end to end, as CI runs it: a fresh instance (SQLite, or a fresh database
on the PostgreSQL server of FLEET_TEST_DATABASE_URL), the DHIS2 test server started as a real
process, the full-size campaign (2,489 org units, 1,000 holders, 1,200 device and SIM rows,
20 simulated phones). The runner asserts each step itself; this test then checks its exit
status, its step lines, and the resulting database and DHIS2 dataStore independently."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

pytestmark = [pytest.mark.slow, pytest.mark.db]

FAKE_DHIS2 = Path(__file__).resolve().parents[1] / "dhis2" / "fake_dhis2.py"
STEPS = ("instance", "generate", "org units", "import holders", "import devices",
         "import sims", "apk release", "phones", "provision", "checkout", "labels",
         "agreements", "health pull", "compliance", "capacity report", "dhis2 publish")


@pytest.fixture
def dhis2_test_server(tmp_path):
    token = "d2pat_" + secrets.token_hex(16)
    secret = secrets.token_hex(16)
    with (tmp_path / "dhis2.stderr").open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(FAKE_DHIS2), "--port=0", f"--token={token}",
             f"--control-secret={secret}"], stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline()
    assert line.startswith("DHIS2_TEST_SERVER_PORT="), line
    url = f"http://127.0.0.1:{int(line.split('=')[1])}"
    yield url, token, secret
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def database_url(tmp_path):
    """SQLite in tmp_path, or a fresh PostgreSQL database dropped afterwards."""
    base = os.environ.get("FLEET_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'data' / 'fleet.sqlite3'}"
        return
    url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"{url.database}_rehearse_{secrets.token_hex(4)}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_rehearse_full_campaign(tmp_path, dhis2_test_server, database_url):
    dhis2_url, dhis2_token, control = dhis2_test_server
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update(FLEET_DATA_DIR=str(tmp_path / "data"), FLEET_DATABASE_URL=database_url,
               FLEET_DHIS2_TOKEN=dhis2_token, HOME=str(tmp_path))
    (tmp_path / "data").mkdir()
    fleet = Path(sys.executable).with_name("fleet")
    proc = subprocess.run([str(fleet), "rehearse", "--seed", "3", "--dhis2-url", dhis2_url],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout
    print(out)
    assert proc.returncode == 0, out + proc.stderr[-3000:]

    lines = {m.group(2): m.group(1) for m in re.finditer(
        r"^(ok|FAILED|not run)\s+(\S.*?\S)\s+\d+\.\d s ", out, re.M)}
    assert lines == dict.fromkeys(STEPS, "ok")
    assert re.search(r"^rehearsal passed: 16 steps, 16 ok, 0 failed, 0 not run", out, re.M)
    password = re.search(r"log in as 'admin' with password (\S+)", out).group(1)
    # the refused rows are reported by row number
    devices_line = next(ln for ln in out.splitlines() if ln.startswith("ok      import devices"))
    sims_line = next(ln for ln in out.splitlines() if ln.startswith("ok      import sims"))
    bad_devices = [int(n) for n in re.search(r"refused rows \[([\d, ]+)\]",
                                             devices_line).group(1).split(",")]
    dup_sims = [int(n) for n in re.search(r"refused rows \[([\d, ]+)\]",
                                          sims_line).group(1).split(",")]
    assert len(bad_devices) == 4 and len(dup_sims) == 3

    # the database, read independently of the runner
    engine = create_engine(database_url)
    with engine.connect() as conn:
        def count(sql: str) -> int:
            return conn.execute(text(sql)).scalar_one()

        assert count("SELECT count(*) FROM org_unit") == 1 + 8 + 80 + 2400
        assert count("SELECT count(*) FROM holder WHERE expected_teis IS NOT NULL") == 1000
        assert count("SELECT count(*) FROM device") == 1200 - 4
        assert count("SELECT count(*) FROM sim") == 1200 - 3
        assert count("SELECT count(*) FROM device WHERE status = 'assigned'") == 20
        assert count("SELECT count(*) FROM custody WHERE checked_in_at IS NULL") == 20
        assert count("SELECT count(*) FROM provisioning_item WHERE status = 'done'") == 20
        assert count("SELECT count(*) FROM device_installed_package "
                     "WHERE package = 'com.dhis2'") == 20
        assert count("SELECT count(*) FROM agreement WHERE status = 'printed'") == 20
        assert count("SELECT count(DISTINCT device_id) FROM health_report") == 20
        assert count("SELECT count(*) FROM audit_log WHERE action = 'apk.approve' "
                     "AND actor_name = 'kofi'") == 1
    engine.dispose()
    # none of the secrets the run used leak into what it printed, bar the admin login it
    # must print; the admin password is in the output exactly once
    assert out.count(password) == 1
    assert dhis2_token not in out + proc.stderr

    # what DHIS2 holds: the Capture app's shape, pointing at fleet
    store = requests.get(f"{dhis2_url}/__test__/datastore",
                         headers={"X-Test-Control": control}, timeout=10).json()
    latest = store["APK_DISTRIBUTION"]["latestVersion"]
    assert latest["version"] == "3.4.1"
    assert re.match(r"https://127\.0\.0\.1:8443/apk/[0-9a-f]{64}", latest["downloadURL"])
    assert latest["downloadURL"].split("token=")[1] not in out  # the channel token
    versions = store["APK_DISTRIBUTION"]["versions"]["versions"]
    assert [v["version"] for v in versions] == ["3.4.1"]
