"""The job registry: each job runs once per interval with two scheduler processes on one
database; failures are recorded and rolled back; the admin page and /metrics show outcomes."""

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from fleet.jobs import JOBS, run_job, slot_for
from fleet.reports.models import JobRun


def _drop(url: str) -> None:
    if url.startswith("sqlite"):
        return
    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
    admin.dispose()


def _own_database(tmp_path) -> str:
    """A database of its own (SQLite file, or a fresh PostgreSQL database when the suite runs
    on PostgreSQL): the scheduler processes commit for real."""
    base = os.environ.get("FLEET_TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"{url.database}_jobs_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.mark.db
def test_two_scheduler_processes_run_each_job_once(tmp_path, adb_server):
    from fleet_testing import make_test_app

    from fleet.cli import upgrade_database

    url = _own_database(tmp_path)
    app = make_test_app(tmp_path, url)
    with app.app_context():
        upgrade_database()
    interval = 3
    env = dict(os.environ, FLEET_DATA_DIR=str(tmp_path), FLEET_DATABASE_URL=url,
               FLEET_SECRET_KEY="s", FLEET_HEALTH_ADB_PORT=str(adb_server.port),
               FLEET_JOB_INTERVALS=json.dumps({j: interval for j in JOBS}), FLEET_LOG_LEVEL="INFO")
    env.pop("FLEET_TEST_DATABASE_URL", None)
    cmd = [sys.executable, "-m", "flask", "--app", "fleet:create_app", "scheduler",
           "--run-for", "13"]
    started = time.time()
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=90)[0] for p in procs]
    elapsed = time.time() - started
    assert all(p.returncode == 0 for p in procs), outputs
    with app.app_context():
        from fleet.extensions import db

        runs = db.session.scalars(select(JobRun)).all()
        db.engine.dispose()
    _drop(url)
    per_job = Counter(r.job_id for r in runs)
    per_slot = Counter((r.job_id, r.slot) for r in runs)
    assert set(per_job) == set(JOBS), per_job
    assert max(per_slot.values()) == 1
    for job_id, n in per_job.items():
        # once per interval: never more runs than intervals elapsed (both processes fired)
        assert 2 <= n <= elapsed / interval + 1, (job_id, n, elapsed)
    assert all(r.outcome == "success" for r in runs), [(r.job_id, r.message) for r in runs]
    # Both processes fired every job (ran the slot or found it claimed by the other), and the
    # claim path was taken: without it the runs above would be doubled.
    for out in outputs:
        for job_id in JOBS:
            assert f"job {job_id}: success" in out or f"job {job_id} slot" in out, (job_id, out)
    assert sum(o.count("already claimed elsewhere") for o in outputs) >= len(JOBS), outputs


def test_failed_job_is_recorded_and_rolled_back(app, db, monkeypatch):
    from fleet.jobs import JobDef
    from fleet.reports.models import ComplianceSetting

    def boom():
        db.session.add(ComplianceSetting(key="stale_days", value=1, updated_by="job"))
        db.session.flush()
        raise RuntimeError("station unreachable")

    monkeypatch.setitem(JOBS, "stale_devices", JobDef("stale_devices", boom, 60, "test"))
    run = run_job(app, "stale_devices", slot=123)
    assert run.outcome == "failure" and "station unreachable" in run.message
    assert db.session.get(ComplianceSetting, "stale_days") is None  # rolled back
    assert run_job(app, "stale_devices", slot=123) is None  # slot already taken


def test_jobs_page_and_metrics(app, db, client, login, pushing_device):
    from fleet.jobs import JobDef

    device, token = pushing_device
    tag = device.asset_tag
    run_job(app, "sim_bundles_expiring", slot=slot_for(86400))
    JOBS_BACKUP = dict(JOBS)
    try:
        JOBS["agreements_stuck"] = JobDef("agreements_stuck", lambda: 1 / 0, 60, "test")
        run_job(app, "agreements_stuck", slot=7)
    finally:
        JOBS.clear()
        JOBS.update(JOBS_BACKUP)
    client.post(f"/api/v1/devices/{tag}/health", json={
        "report_id": "metrics-0001", "battery_level": 50},
        headers={"Authorization": f"Bearer {token}"})
    login("admin")
    page = client.get("/health/jobs").get_data(as_text=True)
    assert 'data-job="sim_bundles_expiring"' in page and "success" in page
    assert "ZeroDivisionError" in page

    app.config["METRICS_TOKEN"] = "scrape-me"
    try:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code \
            == 401
        resp = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    finally:
        app.config.pop("METRICS_TOKEN")
    assert client.get("/metrics").status_code == 404  # off without a token
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    from prometheus_text import parse

    samples = parse(resp.get_data(as_text=True))
    assert samples[("fleet_job_runs_total", (("job", "sim_bundles_expiring"),
                                             ("outcome", "success")))] >= 1
    assert samples[("fleet_job_runs_total", (("job", "agreements_stuck"),
                                             ("outcome", "failure")))] >= 1
    assert samples[("fleet_devices", (("status", "in_stock"),))] >= 1
    comp = {k[1][0][1]: v for k, v in samples.items() if k[0] == "fleet_devices_compliance"}
    assert sum(comp.values()) >= 1 and set(comp) == {"compliant", "non_compliant", "unchecked"}
    assert samples[("fleet_report_age_seconds_count", ())] >= 1
    pushed = [v for (name, labels), v in samples.items()
              if name == "fleet_http_requests_total" and ("endpoint", "health_api.push_report")
              in labels and ("status", "201") in labels]
    assert pushed and pushed[0] >= 1
