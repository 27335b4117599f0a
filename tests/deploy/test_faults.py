"""Faults (issue 9, item 3): the server killed with SIGKILL in the middle of an APK upload and of
a bulk import, the database unreachable at start-up, the disk full while an APK is stored.

Each test runs real ``fleet`` processes (gunicorn) on the suite's database: a SQLite file, or a
fresh PostgreSQL database when FLEET_TEST_DATABASE_URL is set (the tests carry the ``db`` mark,
so ``make test`` runs them on both). After each crash the server is started again and the test
proves that nothing partial is visible and that the interrupted work can be done again.
The DHIS2 timeout and the adb/ssh drops are covered in tests/dhis2 and tests/provisioning
(docs/deployment.md lists them)."""

from __future__ import annotations

import hashlib
import http.client
import json
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
        config = {"SECRET_KEY": secrets.token_hex(32),
                  "ENCRYPTION_KEY": Fernet.generate_key().decode(),
                  "SCHEDULER_IN_SERVER": False, "RATELIMIT_ENABLED": False}
        self.env = fleet_env(self.data_dir, url, **config)
        from fleet_testing import make_test_app

        from fleet.auth.operations import create_user, issue_token
        from fleet.cli import upgrade_database
        from fleet.extensions import db

        app = make_test_app(self.data_dir, url, **config)
        with app.app_context():
            upgrade_database()
            tokens = []
            for name in ("admin", "approver"):
                user = create_user(name, PASSWORD, "admin", actor=None)
                db.session.flush()
                tokens.append(issue_token(user, "faults", actor=None)[1])
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
        self.token, self.approver_token = tokens
        self._n = 0

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
    assert all(t.endswith(".part") for t in temps)

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
