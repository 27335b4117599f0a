"""Beyond one machine (issue 9, item 6): PostgreSQL, two ``fleet serve`` processes behind a
real nginx running ``deploy/nginx-fleet.conf`` (TLS at nginx, APKs sent through
X-Accel-Redirect), one ``fleet scheduler``, a shared FLEET_DATA_DIR and the same
FLEET_SECRET_KEY / FLEET_ENCRYPTION_KEY in every process; all on loopback. The campaign is
``fleet rehearse --fast --url <nginx>`` (docs/rehearsal.md): every API call of the rehearsal,
and the download of the link it publishes to the DHIS2 test server, go through nginx over
verified TLS."""

from __future__ import annotations

import hashlib
import re
import secrets
import subprocess
import time
from urllib.parse import urlsplit

import pytest
from apk_live import Nginx
from cryptography.fernet import Fernet
from deploy_live import (
    FLEET,
    AppProcess,
    Https,
    Process,
    fleet_env,
    postgres_database,
    query,
    run_fleet,
)
from dhis2_fixtures import dhis2_server  # noqa: F401 - the DHIS2 test server fixture

from fleet.jobs import JOBS as JOB_REGISTRY  # noqa: E402

pytestmark = pytest.mark.slow

#: Jobs the scheduler runs in the test, every JOB_SECONDS seconds, for RUN_FOR seconds.
JOB_SECONDS = 4
RUN_FOR = 17
JOBS = tuple(JOB_REGISTRY)  # every registered job, each run at JOB_SECONDS
STEPS = ("instance", "generate", "org units", "import holders", "import devices",
         "import sims", "apk release", "phones", "provision", "checkout", "labels",
         "agreements", "health pull", "compliance", "capacity report", "dhis2 publish")


def _requests(log_text: str) -> list[str]:
    """Request lines of a gunicorn access log ("GET /path HTTP/1.0")."""
    return re.findall(r'"([A-Z]+ /[^ "]* HTTP/1\.[01])"', log_text)


def test_rehearsal_through_nginx_two_app_processes_postgresql_and_one_scheduler(
        tmp_path, dhis2_server):  # noqa: F811
    data_dir = tmp_path / "shared-data"
    with postgres_database() as url:
        env = fleet_env(
            data_dir, url,
            SECRET_KEY=secrets.token_hex(32),                  # same in every process
            ENCRYPTION_KEY=Fernet.generate_key().decode(),    # same in every process
            SCHEDULER_IN_SERVER=False, APK_X_ACCEL_REDIRECT="/protected-apks/", PROXY_COUNT=1,
            BACKUP_DIR=str(tmp_path / "backups"),
            JOB_INTERVALS={job: JOB_SECONDS for job in JOBS})
        # The schema only: the rehearsal runs `fleet init` itself and refuses an instance
        # whose admin exists (docs/rehearsal.md, "Against a running deployment").
        upgrade = run_fleet(["db", "upgrade", "heads"], env)
        assert upgrade.returncode == 0, upgrade.stderr
        assert query(url, 'SELECT count(*) FROM "user"') == [(0,)]

        apps, nginx, scheduler = [], None, None
        try:
            apps = [AppProcess(env, tmp_path / f"app{i}.log") for i in (1, 2)]
            from fleet.server import ensure_self_signed_cert

            cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
            ensure_self_signed_cert(cert, key)
            logs = tmp_path / "nginx" / "logs"
            nginx = Nginx(tmp_path / "nginx", upstream_port=[a.port for a in apps],
                          apk_dir=data_dir / "apks", cert=cert, key=key,
                          access_log=logs / "access.log", uri_log=logs / "uri.log")
            sched_started = time.time()
            scheduler = Process(["scheduler", "--run-for", str(RUN_FOR)], env,
                                tmp_path / "scheduler.log")

            # -- the rehearsal: its API calls through nginx, TLS verified against the cert --
            started = time.perf_counter()
            proc = subprocess.run(
                [FLEET, "rehearse", "--fast", "--seed", "5", "--url", nginx.base,
                 "--ca-cert", str(cert), "--dhis2-url", dhis2_server.url],
                env={**env, "FLEET_DHIS2_TOKEN": dhis2_server.token, "HOME": str(tmp_path)},
                cwd=tmp_path, capture_output=True, text=True, timeout=600)
            rehearsal_s = time.perf_counter() - started
            out = proc.stdout
            print(out, f"rehearsal wall time {rehearsal_s:.1f} s")
            assert proc.returncode == 0, out + proc.stderr[-3000:]
            lines = {m.group(2): m.group(1) for m in re.finditer(
                r"^(ok|FAILED|not run)\s+(\S.*?\S)\s+\d+\.\d s ", out, re.M)}
            assert lines == dict.fromkeys(STEPS, "ok")
            assert re.search(r"^rehearsal passed: 16 steps, 16 ok, 0 failed, 0 not run", out,
                             re.M)
            assert f"API (deployment) at {nginx.base}," in out
            password = re.search(r"log in as 'admin' with password (\S+)", out).group(1)
            rehearsal_log = nginx.access_log.read_text()
            uri_log = nginx.uri_log.read_text()

            # the link published to DHIS2 names nginx; the rehearsal downloaded it through
            # nginx, which sent the bytes itself after the app's X-Accel-Redirect
            (sha,), = query(url, "SELECT sha256 FROM apk_release")
            stored = data_dir / "apks" / sha[:2] / f"{sha}.apk"
            apk_bytes = stored.read_bytes()
            latest = dhis2_server.datastore()["APK_DISTRIBUTION"]["latestVersion"]
            assert latest["downloadURL"].startswith(f"{nginx.base}/apk/{sha}")
            downloads = re.findall(rf'"GET /apk/{sha}[^ "]* HTTP/[\d.]+" (\d+) (\d+) .*'
                                   r"upstream=127\.0\.0\.1:(\d+)", rehearsal_log)
            assert downloads, rehearsal_log[-2000:]
            for status, sent, upstream in downloads:
                assert (status, int(sent)) == ("200", len(apk_bytes))
                assert upstream in {str(a.port) for a in apps}
            # ... and each came from nginx's internal location, after the app's X-Accel-Redirect
            internal = re.findall(rf'"GET /apk/{sha}[^ "]*" 200 \d+ uri=(\S+)', uri_log)
            assert internal == [f"/protected-apks/{sha[:2]}/{sha}.apk"] * len(downloads), (
                uri_log[-2000:])

            # -- what the rehearsal does not do: a person's session, a phone's update check -
            admin = Https(nginx.https_port)
            admin.log_in_and_get_token("admin", password)  # HTML form, then a token
            status, issued = admin.json("POST", "/api/v1/apk/channels/pilot/tokens",
                                        {"label": "deploy poster"})
            assert status == 201, issued
            phone = Https(nginx.https_port)
            phone.token = issued["token"]
            status, offer = phone.json("GET", "/api/v1/updates/com.dhis2?versionCode=100")
            assert status == 200, offer
            assert offer["versionCode"] == 3040100 and offer["sha256"] == sha
            # links name nginx's https address (PROXY_COUNT=1 reads X-Forwarded-*)
            link = urlsplit(offer["downloadURL"])
            assert (link.scheme, link.port) == ("https", nginx.https_port), offer["downloadURL"]
            phone.token = None  # the token travels in the link, as on a phone
            path = f"{link.path}?{link.query}"
            status, resp, got = phone.request("GET", path)
            assert status == 200 and got == apk_bytes
            assert hashlib.sha256(got).hexdigest() == sha
            assert resp.getheader("X-Accel-Redirect") is None
            # ... and the bytes came from nginx: the app alone answers with the header only
            direct = Https(apps[0].port, tls=False)
            status, resp, empty = direct.request("GET", path)
            assert status == 200 and empty == b""
            assert resp.getheader("X-Accel-Redirect") == f"/protected-apks/{sha[:2]}/{sha}.apk"
            # a range resume through nginx
            status, _r, tail = phone.request("GET", path, headers={"Range": "bytes=1000000-"})
            assert status == 206 and got[:1000000] + tail == got
            assert phone.request("GET", link.path)[0] == 401  # no token, no bytes

            # -- the scheduler: each job once per slot, only in the scheduler process -----
            assert scheduler.proc.wait(timeout=RUN_FOR + 60) == 0, scheduler.output()
            # it stopped long before the rehearsal ended: its last log line says when
            sched_ended = scheduler.log.stat().st_mtime
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


def test_rehearse_url_refuses_a_deployment_on_another_database(tmp_path):
    """``--url`` names a deployment whose database is not the FLEET_* one: the rehearsal stops
    at its first step, saying so, before it writes anything through the API."""
    deployed = fleet_env(tmp_path / "deployed", f"sqlite:///{tmp_path / 'deployed.sqlite3'}")
    assert run_fleet(["db", "upgrade", "heads"], deployed).returncode == 0
    local = fleet_env(tmp_path / "local", f"sqlite:///{tmp_path / 'local.sqlite3'}")
    app = AppProcess(deployed, tmp_path / "app.log")
    try:
        proc = subprocess.run([FLEET, "rehearse", "--fast", "--url", app.base], env=local,
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
    finally:
        app.stop()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(rf"^FAILED  instance .*{re.escape(app.base)} refuses a token issued on "
                     r"this FLEET_\* instance: the deployment does not use the same database",
                     proc.stdout, re.M), proc.stdout
    # nothing was created on the deployment
    assert query(f"sqlite:///{tmp_path / 'deployed.sqlite3'}",
                 'SELECT count(*) FROM "user"') == [(0,)]
