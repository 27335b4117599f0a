"""Faults (issue 9, item 3): the server killed with SIGKILL in the middle of an APK upload and of
a bulk import, the database unreachable at start-up, the disk full while an APK is stored.

Each test runs real ``fleet`` processes (gunicorn) on the suite's database: a SQLite file, or a
fresh PostgreSQL database when FLEET_TEST_DATABASE_URL is set (the tests carry the ``db`` mark,
so ``make test`` runs them on both). After each crash the server is started again and the test
proves that nothing partial is visible and that the interrupted work can be done again.
The DHIS2 timeout and the adb/ssh drops are covered in tests/dhis2 and tests/provisioning
(docs/deployment.md lists them)."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from deploy_live import (
    FLEET,
    PASSWORD,
    AppProcess,
    Https,
    fleet_env,
    free_port,
    postgres_database,
    query,
    run_fleet,
    suite_database,
)
from fleet_testing import make_imei

pytestmark = [pytest.mark.slow, pytest.mark.db]


class Instance:
    """A fleet instance (database + data dir) set up in this process as ``fleet init`` would
    (migrations, two admins with API tokens), for ``fleet serve`` subprocesses."""

    def __init__(self, root: Path, url: str):
        self.root, self.url = root, url
        self.data_dir = root / "data"
        self.config = {"SECRET_KEY": secrets.token_hex(32),
                       "ENCRYPTION_KEY": Fernet.generate_key().decode(),
                       "SCHEDULER_IN_SERVER": False, "RATELIMIT_ENABLED": False}
        self.env = fleet_env(self.data_dir, url, **self.config)
        from fleet.auth.operations import create_user, issue_token
        from fleet.cli import upgrade_database

        with self.app_context() as db:
            upgrade_database()
            tokens = []
            for name in ("admin", "approver"):
                user = create_user(name, PASSWORD, "admin", actor=None)
                db.session.flush()
                tokens.append(issue_token(user, "faults", actor=None)[1])
        self.token, self.approver_token = tokens
        self._n = 0

    @contextlib.contextmanager
    def app_context(self):
        """An app of this instance in this process (as ``fleet init`` or a CLI command would
        run), for setting up rows; yields ``db``, commits at the end."""
        from fleet_testing import make_test_app

        from fleet.extensions import db

        app = make_test_app(self.data_dir, self.url, **self.config)
        with app.app_context():
            try:
                yield db
                db.session.commit()
            finally:
                db.session.remove()
                db.engine.dispose()

    def job(self, job_id: str) -> str:
        """Run one scheduled job now with ``fleet scheduler --once --job`` (its slot 1 s
        long, so runs a second apart are not taken for the same run); returns its line."""
        env = dict(self.env, FLEET_JOB_INTERVALS=json.dumps({job_id: 1}))
        out = run_fleet(["scheduler", "--once", "--job", job_id], env)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout.strip()

    def serve(self, **config) -> AppProcess:
        self._n += 1
        env = dict(self.env, **{f"FLEET_{k}": str(v) for k, v in config.items()})
        return AppProcess(env, self.root / f"serve-{self._n}.log")

    def client(self, app: AppProcess, token: str | None = None) -> Https:
        c = Https(app.port, tls=False)
        c.token = token or self.token
        return c

    def count(self, table: str) -> int:
        return query(self.url, f"SELECT count(*) FROM {table}")[0][0]

@pytest.fixture()
def instance(tmp_path):
    with suite_database(tmp_path) as url:
        yield Instance(tmp_path, url)


def _send_headers(port: int, method: str, path: str, headers: dict) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode())
    return sock


def _answered(sock: socket.socket) -> bool:
    """True when the server has sent any byte of an answer on ``sock``."""
    sock.setblocking(False)
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _store_files(store: Path) -> tuple[list[str], list[str]]:
    """(published APK paths, temporary upload files) under the APK store."""
    if not store.exists():
        return [], []
    published = sorted(str(p.relative_to(store)) for p in store.glob("*/*.apk"))
    temps = sorted(p.name for p in store.iterdir() if p.name.startswith(".upload-"))
    return published, temps


def _upload(client: Https, apk: Path) -> tuple[int, dict]:
    """POST the APK as a raw body over a plain socket; an answer the server sends before it
    has read the whole body (a refusal) is read all the same."""
    data = apk.read_bytes()
    sock = _send_headers(client.port, "POST", f"/api/v1/apk/releases?filename={apk.name}", {
        "Authorization": f"Bearer {client.token}", "Connection": "close",
        "Content-Type": "application/vnd.android.package-archive",
        "Content-Length": str(len(data))})
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # answered early; the answer is in the socket's buffer
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    body = resp.read()
    sock.close()
    return resp.status, json.loads(body)


def test_sigkill_during_a_slow_apk_upload_leaves_no_release(instance, apk_factory):
    apk = apk_factory.build(package="org.dhis2.faults", version_code=7, version_name="1.0.7",
                            padding_bytes=4 * 1024 * 1024)
    data = apk.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    store = instance.data_dir / "apks"
    app = instance.serve()
    try:
        sock = _send_headers(app.port, "POST", f"/api/v1/apk/releases?filename={apk.name}", {
            "Authorization": f"Bearer {instance.token}",
            "Content-Type": "application/vnd.android.package-archive",
            "Content-Length": str(len(data))})
        # a phone-line upload: the first 2.5 MB in 64 KB pieces, 20 ms apart
        sent = 0
        while sent < 5 * len(data) // 8:
            sock.sendall(data[sent:sent + 65536])
            sent += 65536
            time.sleep(0.02)
        # the server is writing the body into the store ...
        _wait_for(lambda: any((store / t).stat().st_size > 1024 * 1024
                              for t in _store_files(store)[1]), 30, "a temporary upload file")
        assert not _answered(sock)
        app.kill()  # ... when it dies
        sock.close()
    finally:
        app.stop()
    # nothing partial: no release row, no audit of an upload, no published file
    assert instance.count("apk_release") == 0
    assert query(instance.url, "SELECT count(*) FROM audit_log WHERE action LIKE 'apk.%'") \
        == [(0,)]
    published, temps = _store_files(store)
    assert published == []
    # what a crash leaves is a temporary file, never served (not in the store's layout)
    assert temps and all(t.endswith(".part") for t in temps)

    app = instance.serve()
    try:
        client = instance.client(app)
        status, body = client.json("GET", "/api/v1/apk/releases")
        assert status == 200 and body["items"] == []
        # not served either
        assert client.request("GET", f"/apk/{sha}.apk")[0] == 404
        # the upload can be done again, whole
        status, release = _upload(client, apk)
        assert status == 201 and release["status"] == "vetted", release
        assert release["sha256"] == sha and release["size"] == len(data)
        assert (store / sha[:2] / f"{sha}.apk").read_bytes() == data
        status, again = client.json("GET", "/api/v1/apk/releases")
        assert status == 200, again
        assert [r["id"] for r in again["items"]] == [release["id"]]
    finally:
        app.stop()
    assert instance.count("apk_release") == 1
    # the scheduled sweep leaves a part that may be an upload in flight (written to in the
    # last hour) ...
    assert _store_files(store)[1] == temps
    assert instance.job("apk_upload_parts_sweep") == \
        "apk_upload_parts_sweep: success - deleted 0 interrupted APK uploads"
    assert _store_files(store)[1] == temps
    # ... and deletes it once nothing has written to it for an hour
    two_hours_ago = time.time() - 2 * 3600
    for name in temps:
        os.utime(store / name, (two_hours_ago, two_hours_ago))
    assert instance.job("apk_upload_parts_sweep") == \
        f"apk_upload_parts_sweep: success - deleted {len(temps)} interrupted APK uploads"
    assert _store_files(store) == ([f"{sha[:2]}/{sha}.apk"], [])
    assert (store / sha[:2] / f"{sha}.apk").read_bytes() == data


def _device_sheet(count: int, start: int) -> bytes:
    rows = ["Asset Tag,IMEI 1,Manufacturer,Model"]
    rows += [f"KILL-{n:06d},{make_imei(start + n)},Tecno,Pop 7" for n in range(count)]
    return ("\r\n".join(rows) + "\r\n").encode()


def _multipart(field: str, filename: str, payload: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: text/csv\r\n\r\n").encode()
    body += payload + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _writing(instance: Instance, wal_start: int):
    """A predicate: the import's transaction has written rows that are not committed.
    PostgreSQL: a session of this database holds a transaction id (assigned at its first
    write). SQLite: the write-ahead log grew by more than 512 KiB (pages spilled by the
    uncommitted inserts)."""
    if instance.url.startswith("postgresql"):
        sql = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
               "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()")
        return lambda: query(instance.url, sql)[0][0] > 0
    wal = Path(instance.url.removeprefix("sqlite:///") + "-wal")
    return lambda: wal.exists() and wal.stat().st_size > wal_start + 512 * 1024


def test_sigkill_during_a_bulk_import_leaves_no_half_import(instance):
    count = 20000
    sheet = _device_sheet(count, 700000)
    body, content_type = _multipart("file", "procurement.csv", sheet)
    wal = Path(instance.url.removeprefix("sqlite:///") + "-wal")
    app = instance.serve()
    try:
        wal_start = wal.stat().st_size if wal.exists() else 0
        sock = _send_headers(app.port, "POST", "/api/v1/imports/devices", {
            "Authorization": f"Bearer {instance.token}", "Content-Type": content_type,
            "Content-Length": str(len(body))})
        sock.sendall(body)
        _wait_for(_writing(instance, wal_start), 60, "the import's uncommitted writes")
        assert not _answered(sock), "the import finished before the kill"
        app.kill()
        sock.close()
    finally:
        app.stop()
    # the import is one transaction: none of its rows, none of its audit entries
    assert instance.count("device") == 0
    assert query(instance.url, "SELECT count(*) FROM audit_log WHERE action = "
                               "'device.register'") == [(0,)]

    app = instance.serve()
    try:
        client = instance.client(app)
        status, page = client.json("GET", "/api/v1/devices?per_page=1")
        assert status == 200 and page["meta"]["total"] == 0
        # the same sheet imports whole after the restart
        status, _r, raw = client.request("POST", "/api/v1/imports/devices", body,
                                         {"Content-Type": content_type}, timeout=300)
        report = json.loads(raw)["report"]
        assert status == 200, report
        assert report["imported"] == count and report["errors"] == []
        status, page = client.json("GET", "/api/v1/devices?per_page=1&q=KILL-019999")
        assert status == 200 and page["meta"]["total"] == 1
    finally:
        app.stop()
    assert instance.count("device") == count


# ---- SIGKILL during an agreement signature -------------------------------------------------

def _printed_agreement(instance: Instance) -> tuple[int, str]:
    """A phone checked out to a holder with its agreement printed: (agreement id, SHA-256
    of its terms text)."""
    from fleet.agreements import operations as agreements
    from fleet.inventory import operations as inventory

    with instance.app_context() as db:
        device = inventory.register_device({"imei": make_imei(910001), "manufacturer": "Tecno",
                                            "model": "Pop 7", "box_number": "B-0901"},
                                           actor=None)
        holder = inventory.create_holder({"name": "Amina Bello", "msisdn": "+2348031200901"},
                                         actor=None)
        inventory.checkout(device, holder, actor=None, condition="new in box")
        agreement = agreements.create_agreement(device, actor=None)
        agreements.print_agreement(agreement, actor=None)
        db.session.flush()
        return agreement.id, agreement.terms_sha256


class _RenameHeld:
    """``strace`` attached to every thread of ``pid``, holding each rename the process makes
    for a minute after it is done (``inject=...:delay_exit``): a process caught between
    renaming a file into place and committing its transaction, until it is killed."""

    def __init__(self, pid: int):
        strace = shutil.which("strace")
        assert strace, "strace is needed to hold the server after its rename"
        self.proc = subprocess.Popen(
            [strace, "-f", "-p", str(pid), "-e", "trace=rename,renameat,renameat2",
             "-e", "inject=rename,renameat,renameat2:delay_exit=60000000", "-o", "/dev/null"],
            stderr=subprocess.PIPE, text=True)
        first = self.proc.stderr.readline()  # "strace: Process N attached"
        assert "attached" in first, first

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


def _sign_request(port: int, token: str, agreement_id: int, body: bytes) -> socket.socket:
    sock = _send_headers(port, "POST", f"/api/v1/agreements/{agreement_id}/signature", {
        "Authorization": f"Bearer {token}", "Content-Type": "application/json",
        "Content-Length": str(len(body))})
    sock.sendall(body)
    return sock


def _aged(path: Path, hours: float = 2) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def test_sigkill_during_an_agreement_signature_leaves_it_unsigned(instance):
    import base64

    from agreement_testing import signature_png

    agreement_id, terms_sha = _printed_agreement(instance)
    png = signature_png()
    png_sha = hashlib.sha256(png).hexdigest()
    stored = instance.data_dir / "agreements" / png_sha[:2] / f"{png_sha}.png"
    body = json.dumps({"signature": "data:image/png;base64," + base64.b64encode(png).decode(),
                       "text_sha256": terms_sha, "signer_name": "Amina Bello"}).encode()
    before = query(instance.url, "SELECT status, lock_version FROM agreement")
    assert before[0][0] == "printed"
    app = instance.serve()
    held = None
    try:
        [worker] = app.children()
        held = _RenameHeld(worker)
        sock = _sign_request(app.port, instance.token, agreement_id, body)
        # the PNG is renamed into place: the worker is now between the file and its commit
        _wait_for(stored.exists, 30, "the signature PNG in the file store")
        assert query(instance.url, "SELECT status FROM agreement WHERE id = :i",
                     i=agreement_id) == [("printed",)]
        assert not _answered(sock)
        app.kill()
        sock.close()
    finally:
        if held is not None:
            held.stop()
        app.stop()
    # no half-signed agreement: still printed, no signature row, no step, no audit entry
    assert query(instance.url, "SELECT status, lock_version FROM agreement") == before
    assert instance.count("agreement_signature") == 0
    assert query(instance.url, "SELECT action FROM agreement_step ORDER BY id") == \
        [("create",), ("print",)]
    assert query(instance.url, "SELECT count(*) FROM audit_log WHERE action IN "
                               "('agreement.signature', 'agreement.sign_holder')") == [(0,)]
    # the PNG written just before the crash is an orphan: complete, referred to by nothing
    assert stored.read_bytes() == png

    app = instance.serve()
    try:
        client = instance.client(app)
        status, shown = client.json("GET", f"/api/v1/agreements/{agreement_id}")
        assert status == 200 and shown["status"] == "printed", shown
        assert client.request("GET", f"/api/v1/agreements/{agreement_id}/signed.pdf")[0] != 200
        # the sweep keeps a young unreferenced file (a signature between its file and its
        # commit looks the same) and deletes it once it is an hour old
        sweep = "agreement_files_sweep: success - deleted {} unreferenced agreement files"
        assert instance.job("agreement_files_sweep") == sweep.format(0)
        assert stored.exists()
        _aged(stored)
        assert instance.job("agreement_files_sweep") == sweep.format(1)
        assert not stored.exists()
        assert [p.name for p in (instance.data_dir / "agreements").rglob("*")
                if p.is_file()] == []
        # signing again works, whole, with the same bytes
        status, _r, raw = client.request(
            "POST", f"/api/v1/agreements/{agreement_id}/signature", body,
            {"Content-Type": "application/json"})
        assert status == 201, raw
        assert json.loads(raw)["png_sha256"] == png_sha
        assert stored.read_bytes() == png
        status, shown = client.json("GET", f"/api/v1/agreements/{agreement_id}")
        assert shown["status"] == "signed_by_holder", shown
        status, _r, pdf = client.request("GET", f"/api/v1/agreements/{agreement_id}/signed.pdf")
        assert status == 200 and pdf.startswith(b"%PDF-")
    finally:
        app.stop()
    assert query(instance.url, "SELECT png_sha256 FROM agreement_signature") == [(png_sha,)]
    # a referenced file is never swept, however old
    _aged(stored)
    assert instance.job("agreement_files_sweep") == sweep.format(0)
    assert stored.read_bytes() == png


# ---- SIGKILL during a provisioning run ----------------------------------------------------

#: Seconds without a heartbeat after which a run counts as interrupted (the default is 60).
RUN_STALE_S = 2


def _provisioning_setup(instance: Instance, apk: Path, signer: str, adb_port: int) -> None:
    """The vetted release (file in the instance's APK store), a ``local`` station for the
    adb server and a profile ``field`` with a random PIN per phone."""
    from apkfactory import aapt_badging

    from fleet.apk.models import Release
    from fleet.apk.storage import ApkStore
    from fleet.provisioning.operations import create_profile, create_station

    info = aapt_badging(apk)
    with instance.app_context() as db:
        stored = ApkStore(instance.data_dir / "apks").store_file(apk)
        release = Release(package=info["package"], version_code=int(info["version_code"]),
                          version_name=info["version_name"], min_sdk=int(info["min_sdk"]),
                          target_sdk=int(info["target_sdk"]), sha256=stored.sha256,
                          size=stored.size, file_name=apk.name, signer_sha256=signer,
                          status="released", uploaded_by="faults")
        db.session.add(release)
        db.session.flush()
        create_station("hub", {"kind": "local", "adb_port": adb_port}, actor=None)
        create_profile("field", {"release_ids": [release.id], "pin_policy": "random",
                                 "require_encryption": True}, actor=None)


def _items(instance: Instance, run_id: int) -> dict[str, tuple]:
    """{phone serial: (status, resume_step, steps as "step:status")} of a run."""
    rows = query(instance.url, "SELECT id, serial, status, resume_step FROM provisioning_item "
                               "WHERE run_id = :r", r=run_id)
    out = {}
    for item_id, serial, status, resume_step in rows:
        steps = query(instance.url, "SELECT step, status FROM provisioning_step WHERE "
                                    "item_id = :i ORDER BY id", i=item_id)
        out[serial] = (status, resume_step, [f"{a}:{b}" for a, b in steps])
    return out


def _provisioned_without_verify(instance: Instance) -> list[tuple]:
    """Devices marked provisioned, or with an installed-package row, that no finished run
    item verified (a verify step that passed, then the record step): must be none."""
    return query(instance.url, """
        SELECT d.asset_tag, d.status FROM device d
        WHERE (d.status = 'provisioned'
               OR EXISTS (SELECT 1 FROM device_installed_package p WHERE p.device_id = d.id))
          AND NOT EXISTS (
            SELECT 1 FROM provisioning_item i
            JOIN provisioning_step v ON v.item_id = i.id AND v.step = 'verify'
                                     AND v.status = 'ok'
            JOIN provisioning_step r ON r.item_id = i.id AND r.step = 'record'
                                     AND r.status = 'ok' AND r.id > v.id
            WHERE i.device_id = d.id AND i.status = 'done')""")


def _wait_run(client: Https, run_id: int, status: str, timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    run = None
    while time.time() < deadline:
        code, run = client.json("GET", f"/api/v1/provisioning/runs/{run_id}")
        assert code == 200, run
        if not run["active"]:
            assert run["status"] == status, run
            return run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} not {status} after {timeout} s: {run}")


def test_sigkill_during_a_provisioning_run_then_redo_and_resume(instance, adb_server, devsim,
                                                                apk_factory, signing_keys):
    from fleet.provisioning.devsim import catalogue_profiles

    # three phones on one hub: a fast one, one that takes ~3 s per 3 MB copy (install, then
    # verify pulls the APK back) and a slow one (~8 s per copy)
    profiles = catalogue_profiles(3)
    for p, rate in zip(profiles, (None, 1.0, 0.4), strict=True):
        p.faults.throughput_mbps = rate
        p.screen_lock_pin = None
    sim = devsim(profiles)
    fast, mid, slow = sim.serials
    apk = apk_factory.build(package="com.dhis2", version_code=10, version_name="3.4.1",
                            padding_bytes=3 * 1024 * 1024)
    _provisioning_setup(instance, apk, signing_keys["release"].cert_sha256, adb_server.port)

    # the run is started from the API: it runs in a thread of the gunicorn worker
    app = instance.serve(PROVISIONING_RUN_STALE_S=RUN_STALE_S)
    try:
        client = instance.client(app)
        status, run = client.json("POST", "/api/v1/provisioning/runs",
                                  {"profile": "field", "station": "hub", "all": True})
        assert status == 202, run
        run_id = run["id"]

        def mid_run() -> bool:
            items = _items(instance, run_id)
            return (items.get(fast, ("",))[0] == "done"
                    and sim.phone(mid).lock_pin is not None  # its PIN is set ...
                    and not any(s.startswith("verify") for s in items[mid][2])  # not verified
                    and not any(s.startswith("install") for s in items[slow][2])
                    and sim.phone(slow).received_bytes > 0)  # ... the slow one installing

        _wait_for(mid_run, 60, "one phone done, one being verified, one installing")
        app.kill()
    finally:
        app.stop()
    pin_left_by_the_crash = sim.phone(mid).lock_pin

    # the crash left the run "running" with two phones in progress, and only the verified
    # phone in the inventory
    assert query(instance.url, "SELECT status FROM provisioning_run") == [("running",)]
    items = _items(instance, run_id)
    assert {s: items[s][0] for s in items} == {fast: "done", mid: "running", slow: "running"}
    assert _provisioned_without_verify(instance) == []
    assert query(instance.url, "SELECT serial, status FROM device") == [(fast, "provisioned")]
    assert instance.count("device_installed_package") == 1

    app = instance.serve(PROVISIONING_RUN_STALE_S=RUN_STALE_S)
    try:
        client = instance.client(app)
        # once the heartbeat is older than PROVISIONING_RUN_STALE_S the run shows interrupted,
        # its phones in progress gone at the step they were in
        run = _wait_run(client, run_id, "interrupted", timeout=30)
        assert "stopped: no sign of life since" in run["note"], run
        by_serial = {i["serial"]: i for i in run["items"]}
        assert by_serial[fast]["status"] == "done"
        assert by_serial[mid]["status"] == "gone"
        assert by_serial[mid]["resume_step"] in ("pin", "permissions", "verify"), by_serial[mid]
        assert by_serial[slow]["status"] == "gone"
        assert by_serial[slow]["resume_step"] == "install", by_serial[slow]
        assert "interrupted during install" in by_serial[slow]["message"]
        assert query(instance.url, "SELECT count(*) FROM audit_log WHERE action = "
                                   "'provisioning.run.interrupt'") == [(1,)]

        # redo: a new run for the phone whose PIN the crashed run set knows that PIN
        status, redo = client.json("POST", "/api/v1/provisioning/runs",
                                   {"profile": "field", "station": "hub", "serials": [mid]})
        assert status == 202, redo
        redo = _wait_run(client, redo["id"], "finished")
        [item] = redo["items"]
        assert item["status"] == "done", item
        pin_step = next(s for s in item["steps"] if s["step"] == "pin")
        assert pin_step["status"] == "ok", pin_step
        assert pin_step["output"] == "screen-lock PIN already set"
        assert sim.phone(mid).lock_pin == pin_left_by_the_crash

        # resume: the interrupted run finishes its phones
        status, resumed = client.json("POST", f"/api/v1/provisioning/runs/{run_id}/resume", {})
        assert status == 202, resumed
        status, again = client.json("POST", f"/api/v1/provisioning/runs/{run_id}/resume", {})
        assert status == 409, again  # live: one process drives a run at a time
        run = _wait_run(client, run_id, "finished")
        assert run["counts"] == {"done": 3}, run
        slow_steps = [s["step"] for s in {i["serial"]: i for i in run["items"]}[slow]["steps"]]
        assert slow_steps[-7:] == ["preflight", "install", "settings", "pin", "permissions",
                                   "verify", "record"]
    finally:
        app.stop()
    assert _provisioned_without_verify(instance) == []
    assert sorted(query(instance.url, "SELECT serial, status FROM device")) == \
        sorted([(s, "provisioned") for s in sim.serials])
    assert query(instance.url, "SELECT DISTINCT package, version_code FROM "
                               "device_installed_package") == [("com.dhis2", 10)]
    for serial in sim.serials:
        out = adb_server.run("-s", sim.adb_serial(serial), "shell",
                             "pm list packages --show-versioncode -3", check=True).stdout
        assert "package:com.dhis2 versionCode:10" in out, out


def test_disk_full_while_storing_an_apk_is_refused_and_nothing_published(tmp_path,
                                                                         apk_factory):
    """The APK store on a real 2 MiB tmpfs (``unshare -m``: a private mount namespace, so the
    mount vanishes with the server); a 4 MB upload hits ENOSPC."""
    for tool in ("unshare", "mount"):
        assert shutil.which(tool), f"{tool} (util-linux) is needed for the disk-full test"
    big = apk_factory.build(package="org.dhis2.full", version_code=3, version_name="1.0.3",
                            padding_bytes=4 * 1024 * 1024)
    small = apk_factory.build(package="org.dhis2.full", version_code=4, version_name="1.0.4")
    assert small.stat().st_size < 512 * 1024
    with suite_database(tmp_path) as url:
        inst = Instance(tmp_path, url)
        store = tmp_path / "small-disk"
        store.mkdir()
        env = dict(inst.env, FLEET_APK_STORE_DIR=str(store))
        app = AppProcess(env, tmp_path / "serve-full.log", wrap=[
            "unshare", "-m", "--propagation", "private", "sh", "-c",
            f'mount -t tmpfs -o size=2m fleet-full "{store}" && exec "$0" "$@"'])
        try:
            client = inst.client(app)
            status, body = _upload(client, big)
            assert status == 422, body  # InvalidInput: a clean refusal, not a 500
            assert "disk is full" in body["error"]["message"]
            status, listing = client.json("GET", "/api/v1/apk/releases")
            assert listing["items"] == []
            # the space is given back: a small APK still fits and is stored whole
            status, release = _upload(client, small)
            assert status == 201 and release["status"] == "vetted", release
            # what the server sees in its store: the one published APK, no temporary file
            # (exec made the shell the gunicorn master: its pid is in the namespace)
            stored = subprocess.run(
                ["nsenter", "-t", str(app.pid), "-m", "find", str(store), "-type", "f"],
                capture_output=True, text=True, timeout=30)
            assert stored.returncode == 0, stored.stderr
            sha = release["sha256"]
            assert stored.stdout.split() == [str(store / sha[:2] / f"{sha}.apk")], stored.stdout
        finally:
            app.stop()
        assert query(url, "SELECT count(*) FROM apk_release") == [(1,)]
        assert list(store.iterdir()) == []  # the tmpfs was private to the server


# ---- the database unreachable at start-up ------------------------------------------------------

def test_database_unreachable_at_start_up_gives_up_with_a_clear_message(tmp_path):
    port = free_port()  # nothing listens there
    env = fleet_env(tmp_path / "data", f"postgresql://fleet:pw-never-printed@127.0.0.1:{port}/x",
                    DB_CONNECT_RETRIES=2)
    for args in (["init"], ["serve", "--no-tls", "--no-init", "--port", str(free_port())]):
        started = time.time()
        out = run_fleet(args, env, timeout=120)
        took = time.time() - started
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr
        assert (f"cannot connect to the database postgresql+psycopg://fleet:***@127.0.0.1:{port}/x"
                f" after 3 attempts") in out.stderr, out.stderr
        assert "Connection refused" in out.stderr
        assert out.stderr.count("retry ") == 2  # 0.5 s, then 1 s
        assert "pw-never-printed" not in out.stdout + out.stderr
        assert took >= 1.5


class _LateProxy:
    """A TCP forwarder to ``target`` on ``port`` that listens only once :meth:`open` is
    called: a database server that comes up after fleet."""

    def __init__(self, port: int, target: tuple[str, int]):
        self.port, self.target = port, target
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def open(self) -> None:
        self._srv = socket.create_server(("127.0.0.1", self.port))
        self._srv.settimeout(0.2)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._srv.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()
        self._srv.close()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def test_database_that_comes_up_late_is_waited_for(tmp_path):
    from sqlalchemy.engine import make_url

    with postgres_database() as url:
        real = make_url(url)
        port = free_port()
        late = real.set(port=port).render_as_string(hide_password=False)
        proxy = _LateProxy(port, (real.host, real.port))
        env = fleet_env(tmp_path / "data", late, DB_CONNECT_RETRIES=6, ADMIN_PASSWORD=PASSWORD)
        proc = subprocess.Popen([FLEET, "init"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            first = proc.stderr.readline()  # fleet found no server ...
            assert "not reachable" in first and "retry 1/6" in first, first
            proxy.open()  # ... which now comes up
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proxy.stop()
        assert proc.returncode == 0, first + err
        assert "first admin created" in out
        assert proxy.accepted >= 1
        assert query(url, 'SELECT username FROM "user"') == [("admin",)]
