"""Real processes for the deployment and fault tests: databases (SQLite file or a fresh
PostgreSQL database on the test server), ``fleet serve`` / ``fleet scheduler`` subprocesses,
and a small HTTPS client with cookies; nginx in front of them is ``apk_live.Nginx``.
Importable as ``deploy_live`` (``tests/deploy/conftest.py`` puts this folder and ``tests/apk``
on ``sys.path``)."""

from __future__ import annotations

import contextlib
import http.client
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

from apk_live import free_port, unverified_tls

REPO = Path(__file__).resolve().parents[2]
FLEET = str(Path(sys.executable).with_name("fleet"))
PG_DEFAULT = "postgresql://fleet:fleet@127.0.0.1:55432/fleet_test"
PASSWORD = "deploy-test-password-1"


# ---- databases -------------------------------------------------------------------------------

def _admin_engine(url):
    from sqlalchemy import create_engine

    return create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def postgres_database(base: str | None = None):
    """A new PostgreSQL database ``fleet_deploy_<8 hex>`` on the server of ``base`` (default
    FLEET_TEST_DATABASE_URL, else the test server of ``tools/pg-test-server.sh``, which is
    started when that URL is not given); yields its ``postgresql://`` URL and drops it after
    (``WITH (FORCE)``: killed processes may leave sessions behind)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    base = base or os.environ.get("FLEET_TEST_DATABASE_URL")
    if not base:
        subprocess.run([str(REPO / "tools" / "pg-test-server.sh"), "start"], check=True,
                       capture_output=True, timeout=120)
        base = PG_DEFAULT
    url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"fleet_deploy_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield (url.set(database=name).render_as_string(hide_password=False)
               .replace("postgresql+psycopg://", "postgresql://", 1))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def suite_database(root: Path):
    """The database the suite runs on: a fresh PostgreSQL database when
    FLEET_TEST_DATABASE_URL is set, else a SQLite file under ``root``."""
    if os.environ.get("FLEET_TEST_DATABASE_URL"):
        with postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{root / 'fleet.sqlite3'}"


def query(url: str, sql: str, **params) -> list[tuple]:
    """Rows of ``sql`` on the database ``url`` (a fresh engine, disposed after)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


# ---- processes -------------------------------------------------------------------------------

def fleet_env(data_dir: Path, database_url: str, **config) -> dict:
    """The environment of a fleet process: this one without FLEET_*, plus FLEET_DATA_DIR,
    FLEET_DATABASE_URL and ``config`` as FLEET_<key>."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update({"FLEET_DATA_DIR": str(data_dir), "FLEET_DATABASE_URL": database_url})
    env.update({f"FLEET_{k}": (v if isinstance(v, str) else json.dumps(v))
                for k, v in config.items()})
    return env


def run_fleet(args: list[str], env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([FLEET, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


class Process:
    """A fleet command in a subprocess of its own session; output to ``log``. ``wrap`` is
    a command prefix (``unshare ... sh -c '... exec "$0" "$@"'``)."""

    def __init__(self, args: list[str], env: dict, log: Path, *, wrap: list[str] = ()):
        self.args, self.log = args, log
        self._fh = open(log, "w")
        self.proc = subprocess.Popen([*wrap, FLEET, *args], env=env, stdout=self._fh,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        if not self._fh.closed:
            self._fh.flush()
        return self.log.read_text(errors="replace")

    def children(self) -> list[int]:
        """Pids of the direct children of this process (gunicorn: its workers; under a
        ``wrap`` prefix: of the wrapped process's own pid)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def kill(self) -> None:
        """SIGKILL the whole process group (gunicorn master and workers): a crash."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._fh.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._fh.close()


class AppProcess(Process):
    """``fleet serve --no-tls --no-init --workers 1`` on a free loopback port."""

    def __init__(self, env: dict, log: Path, *, port: int | None = None, wait: bool = True,
                 wrap: list[str] = ()):
        self.port = port or free_port()
        super().__init__(["serve", "--no-tls", "--no-init", "--host", "127.0.0.1", "--port",
                          str(self.port), "--workers", "1"], env, log, wrap=wrap)
        self.base = f"http://127.0.0.1:{self.port}"
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fleet serve exited:\n{self.output()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"fleet serve did not answer in {timeout} s:\n{self.output()[-3000:]}")


# ---- a client --------------------------------------------------------------------------------

class Https:
    """One user agent over TLS (or plain HTTP with ``tls=False``) to 127.0.0.1:``port``:
    a cookie jar, JSON helpers, a bearer token once :meth:`log_in_and_get_token` ran."""

    def __init__(self, port: int, *, tls: bool = True):
        self.port, self.tls = port, tls
        self.cookies: dict[str, str] = {}
        self.token: str | None = None

    def _conn(self, timeout: float = 60):
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=unverified_tls())
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                *, auth: bool = True, timeout: float = 60):
        """(status, headers, body bytes); remembers Set-Cookie."""
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        conn = self._conn(timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            for name, value in resp.getheaders():
                # a script with a token keeps no cookies (a session cookie without a login,
                # e.g. from an HTML error page, makes Flask-Login's "strong" session
                # protection refuse the token: see the report of issue 9)
                if name.lower() == "set-cookie" and not (auth and self.token):
                    cookie = value.split(";", 1)[0]
                    k, _, v = cookie.partition("=")
                    self.cookies[k.strip()] = v.strip()
            return resp.status, resp, data
        finally:
            conn.close()

    def json(self, method: str, path: str, payload=None, **kw):
        body = None if payload is None else json.dumps(payload).encode()
        status, _resp, data = self.request(method, path, body,
                                           {"Content-Type": "application/json"}, **kw)
        return status, (json.loads(data) if data else None)

    def log_in(self, username: str, password: str) -> None:
        """Log in through the HTML form (CSRF token from the page), as a person does."""
        status, _r, page = self.request("GET", "/auth/login", auth=False)
        assert status == 200, status
        csrf = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
        body = urllib.parse.urlencode({"username": username, "password": password,
                                       "csrf_token": csrf}).encode()
        scheme = "https" if self.tls else "http"
        status, resp, _ = self.request(
            "POST", "/auth/login", body, {"Content-Type": "application/x-www-form-urlencoded",
                                          "Referer": f"{scheme}://127.0.0.1:{self.port}/auth/login"},
            auth=False)
        location = resp.getheader("Location", "")
        assert status == 302 and "/auth/login" not in location, (status, location)

    def log_in_and_get_token(self, username: str, password: str) -> str:
        """Log in, then issue an API token with the session (POST /api/v1/tokens); TLS only
        (the session cookie is Secure)."""
        self.log_in(username, password)
        # a session's API write carries the CSRF token of its pages, as the pages' scripts do
        _s, _r, page = self.request("GET", "/dashboard", auth=False)
        csrf = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
        status, _r, raw = self.request("POST", "/api/v1/tokens",
                                       json.dumps({"name": "deploy-test"}).encode(),
                                       {"Content-Type": "application/json",
                                        "X-CSRFToken": csrf,
                                        "Referer": f"https://127.0.0.1:{self.port}/dashboard"},
                                       auth=False)
        body = json.loads(raw)
        assert status == 201, body
        self.token = body["token"]
        self.cookies.clear()  # from here on a script with a token, no session
        return self.token
