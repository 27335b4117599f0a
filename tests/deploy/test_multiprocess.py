"""Beyond one machine (issue 9, item 6): PostgreSQL, two ``fleet serve`` processes behind a
real nginx running ``deploy/nginx-fleet.conf`` (TLS at nginx, APKs sent through
X-Accel-Redirect), one ``fleet scheduler``, a shared FLEET_DATA_DIR and the same
FLEET_SECRET_KEY / FLEET_ENCRYPTION_KEY in every process; all on loopback."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet
from deploy_live import (
    PASSWORD,
    AppProcess,
    Https,
    Nginx,
    Process,
    fleet_env,
    postgres_database,
    query,
    run_fleet,
)
from fleet_testing import make_imei

from fleet.jobs import JOBS as JOB_REGISTRY  # noqa: E402

pytestmark = pytest.mark.slow

#: Jobs the scheduler runs in the test, every JOB_SECONDS seconds, for RUN_FOR seconds.
JOB_SECONDS = 4
RUN_FOR = 17
JOBS = tuple(JOB_REGISTRY)  # every registered job, each run at JOB_SECONDS


def _requests(log_text: str) -> list[str]:
    """Request lines of a gunicorn access log ("GET /path HTTP/1.0")."""
    return re.findall(r'"([A-Z]+ /[^ "]* HTTP/1\.[01])"', log_text)


def test_two_app_processes_behind_nginx_with_postgresql_and_one_scheduler(tmp_path,
                                                                          apk_factory):
    apk = apk_factory.build(package="org.dhis2.deploytest", version_code=120,
                            version_name="1.2.0", padding_bytes=3 * 1024 * 1024)
    apk_bytes = apk.read_bytes()
    data_dir = tmp_path / "shared-data"
    with postgres_database() as url:
        env = fleet_env(
            data_dir, url,
            SECRET_KEY=secrets.token_hex(32),                  # same in every process
            ENCRYPTION_KEY=Fernet.generate_key().decode(),    # same in every process
            SCHEDULER_IN_SERVER=False, APK_X_ACCEL_REDIRECT="/protected-apks/", PROXY_COUNT=1,
            ADMIN_PASSWORD=PASSWORD, BACKUP_DIR=str(tmp_path / "backups"),
            JOB_INTERVALS={job: JOB_SECONDS for job in JOBS})
        init = run_fleet(["init"], env)
        assert init.returncode == 0, init.stderr
        assert "first admin created" in init.stdout
        # the keys came from the environment, not from files in the shared folder
        assert not (data_dir / "secret_key").exists()
        assert not (data_dir / "fernet.key").exists()

        apps, nginx, scheduler = [], None, None
        try:
            apps = [AppProcess(env, tmp_path / f"app{i}.log") for i in (1, 2)]
            from fleet.server import ensure_self_signed_cert

            cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
            ensure_self_signed_cert(cert, key)
            nginx = Nginx(tmp_path / "nginx", upstream_ports=[a.port for a in apps],
                          apk_dir=data_dir / "apks", cert=cert, key=key)
            sched_started = time.time()
            scheduler = Process(["scheduler", "--run-for", str(RUN_FOR)], env,
                                tmp_path / "scheduler.log")

            # -- a short campaign flow, every request through nginx over TLS ------------
            admin = Https(nginx.https_port)
            admin.log_in_and_get_token("admin", PASSWORD)
            status, body = admin.json("POST", "/api/v1/users", {
                "username": "approver", "password": PASSWORD, "role": "admin"})
            assert status == 201, body
            approver = Https(nginx.https_port)
            approver.log_in_and_get_token("approver", PASSWORD)

            for n in range(6):
                status, body = admin.json("POST", "/api/v1/devices", {
                    "asset_tag": f"DEP-{n:03d}", "imei": make_imei(9000 + n),
                    "manufacturer": "Tecno", "model": "Pop 7"})
                assert status == 201, body
            status, body = admin.json("GET", "/api/v1/devices?per_page=100")
            assert status == 200
            tags = sorted(d["asset_tag"] for d in body["items"])
            assert tags == [f"DEP-{n:03d}" for n in range(6)]

            status, resp, raw = admin.request(
                "POST", f"/api/v1/apk/releases?filename={apk.name}&notes=deploy", apk_bytes,
                {"Content-Type": "application/vnd.android.package-archive"})
            release = json.loads(raw)
            assert status == 201 and release["status"] == "vetted", release
            rid = release["id"]
            assert release["sha256"] == hashlib.sha256(apk_bytes).hexdigest()
            assert admin.json("POST", f"/api/v1/apk/releases/{rid}/testing")[0] == 200
            assert approver.json("POST", f"/api/v1/apk/releases/{rid}/approve")[0] == 200
            assert admin.json("POST", "/api/v1/apk/channels",
                              {"name": "production", "is_default": True})[0] == 201
            status, body = approver.json("POST", f"/api/v1/apk/releases/{rid}/release",
                                         {"channel": "production"})
            assert status == 200, body
            status, issued = approver.json("POST", "/api/v1/apk/channels/production/tokens",
                                           {"label": "deploy poster"})
            assert status == 201, issued

            phone = Https(nginx.https_port)
            phone.token = issued["token"]
            status, offer = phone.json("GET", "/api/v1/updates/org.dhis2.deploytest"
                                              "?versionCode=100")
            assert status == 200, offer
            assert offer["versionCode"] == 120 and offer["sha256"] == release["sha256"]
            # links name nginx's https address (PROXY_COUNT=1 reads X-Forwarded-*)
            link = urlsplit(offer["downloadURL"])
            assert (link.scheme, link.port) == ("https", nginx.https_port), offer["downloadURL"]
            phone.token = None  # the token travels in the link, as on a phone
            path = f"{link.path}?{link.query}"
            status, resp, got = phone.request("GET", path)
            assert status == 200
            assert hashlib.sha256(got).hexdigest() == release["sha256"]
            assert resp.getheader("X-Accel-Redirect") is None
            # ... and the bytes came from nginx: the app alone answers with the header only
            direct = Https(apps[0].port, tls=False)
            status, resp, empty = direct.request("GET", path)
            assert status == 200 and empty == b""
            assert resp.getheader("X-Accel-Redirect") == (
                f"/protected-apks/{release['sha256'][:2]}/{release['sha256']}.apk")
            # a range resume through nginx
            status, _r, tail = phone.request("GET", path, headers={"Range": "bytes=1000000-"})
            assert status == 206 and got[:1000000] + tail == got
            assert phone.request("GET", link.path)[0] == 401  # no token, no bytes
            for _ in range(6):
                assert admin.json("GET", "/api/v1/me")[0] == 200

            # -- the scheduler: each job once per slot, only in the scheduler process -----
            assert scheduler.proc.wait(timeout=RUN_FOR + 60) == 0, scheduler.output()
            sched_ended = time.time()
            assert "scheduler stopped" in scheduler.output()
            rows = query(url, "SELECT job_id, slot, outcome, host, message FROM job_run "
                              "ORDER BY job_id, slot")
        finally:
            if scheduler is not None:
                scheduler.stop()
            if nginx is not None:
                nginx.stop()
            for app in apps:
                app.stop()

        # both app processes served requests of the flow (gunicorn access logs) ...
        served = [_requests(app.output()) for app in apps]
        for i, lines in enumerate(served, 1):
            api = [line for line in lines if "/api/v1/" in line]
            assert len(api) >= 3, f"app process {i} served {lines}"
        # ... and nginx's log names both upstreams
        upstreams = set(re.findall(r"upstream=127\.0\.0\.1:(\d+)",
                                   nginx.access_log.read_text()))
        assert upstreams >= {str(a.port) for a in apps}

        by_job: dict[str, list[tuple]] = {}
        for job_id, slot, outcome, host, message in rows:
            by_job.setdefault(job_id, []).append((slot, outcome, host, message))
        assert set(by_job) == set(JOBS), rows
        first_slot = int(sched_started // JOB_SECONDS)
        last_slot = int(round(sched_ended / JOB_SECONDS))
        for job_id, runs in by_job.items():
            slots = [r[0] for r in runs]
            # at most once per slot, in several slots of the scheduler's lifetime. (A run that
            # waits more than half an interval behind the others on a loaded machine is
            # skipped by APScheduler as "missed", so a slot may have no run; never two.)
            assert len(set(slots)) == len(slots) >= 2, (job_id, runs)
            assert first_slot <= slots[0] and slots[-1] <= last_slot, (job_id, slots)
            for slot, outcome, host, message in runs:
                assert outcome == "success", (job_id, slot, message)
                # run by the scheduler process, never by an app process
                assert host.endswith(f":{scheduler.pid}"), (job_id, host)
        backups = sorted((tmp_path / "backups").glob("fleet-backup-*"))
        assert backups, "the backup job wrote nothing into BACKUP_DIR"
