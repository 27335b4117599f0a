"""`fleet init` and `fleet serve` as a user runs them: real processes, real gunicorn, real TLS."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

FLEET = str(Path(sys.executable).with_name("fleet"))


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update({"FLEET_DATA_DIR": str(tmp_path / "data"), **extra})
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_init_is_idempotent_and_prints_generated_password(tmp_path):
    first = subprocess.run(
        [FLEET, "init"], env=_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    match = re.search(r"password: (\S+)", first.stdout)
    assert "first admin created: username 'admin'" in first.stdout and match
    second = subprocess.run(
        [FLEET, "init"], env=_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0 and "admin account exists" in second.stdout
    assert "password:" not in second.stdout
    assert (tmp_path / "data" / "fleet.sqlite3").exists()


def test_init_uses_admin_password_from_env(tmp_path):
    out = subprocess.run(
        [FLEET, "init"],
        env=_env(tmp_path, FLEET_ADMIN_PASSWORD="s3cret-admin-pw"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "the value of FLEET_ADMIN_PASSWORD" in out.stdout
    assert "s3cret-admin-pw" not in out.stdout + out.stderr


@pytest.mark.slow
def test_serve_https_with_gunicorn_and_log_in(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [FLEET, "serve", "--port", str(port), "--workers", "1"],
        env=_env(tmp_path, FLEET_ADMIN_PASSWORD="first-admin-pw-1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        ctx = ssl.create_default_context(cafile=None)
        deadline = time.time() + 60
        cert = tmp_path / "data" / "tls" / "cert.pem"
        while time.time() < deadline:
            try:
                if cert.exists():
                    ctx = ssl.create_default_context(cafile=str(cert))
                    with urllib.request.urlopen(
                        f"https://localhost:{port}/healthz", context=ctx, timeout=5
                    ) as resp:
                        assert resp.status == 200 and b'"ok"' in resp.read()
                        break
            except (OSError, ssl.SSLError):
                pass
            time.sleep(0.3)
        else:
            pytest.fail("fleet serve did not answer over HTTPS within 60 s")
        # The self-signed certificate verifies for localhost: TLS is real, not turned off.
        with urllib.request.urlopen(f"https://localhost:{port}/auth/login", context=ctx) as resp:
            headers = resp.headers
            assert "Strict-Transport-Security" in headers and resp.status == 200
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ctx), urllib.request.HTTPCookieProcessor(jar)
        )
        page = opener.open(f"https://localhost:{port}/auth/login").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode(
            {"username": "admin", "password": "first-admin-pw-1", "csrf_token": token}
        ).encode()
        req = urllib.request.Request(
            f"https://localhost:{port}/auth/login",
            data=body,
            headers={"Referer": f"https://localhost:{port}/auth/login"},
        )
        landed = opener.open(req)
        assert landed.url.endswith("/dashboard") and b"Devices by status" in landed.read()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "gunicorn" in out.lower() and f"https://localhost:{port}/" in out
    # One scheduler process beside the workers, stopped with the server (no orphan).
    child = re.search(r"scheduler started \(pid (\d+)\)", out)
    assert child, out[-3000:]
    deadline = time.time() + 15
    while time.time() < deadline and Path(f"/proc/{child.group(1)}").exists():
        time.sleep(0.2)
    assert not Path(f"/proc/{child.group(1)}").exists()
