"""The access log of a real ``fleet serve`` (gunicorn over TLS) holds no token: phones send
their APK download token as ``?token=`` (install page, download links in update answers), and
the request line of gunicorn's default access log format carries the query string."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

FLEET = str(Path(sys.executable).with_name("fleet"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, ctx, headers=None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    context=ctx, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_gunicorn_access_log_holds_no_download_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update({"FLEET_DATA_DIR": str(tmp_path / "data"),
                "FLEET_ADMIN_PASSWORD": "sec-admin-password-1"})
    run = {"env": env, "capture_output": True, "text": True, "timeout": 120}
    assert subprocess.run([FLEET, "init"], **run).returncode == 0
    assert subprocess.run([FLEET, "apk", "channel-add", "field"], **run).returncode == 0
    issued = subprocess.run([FLEET, "apk", "token", "--channel", "field"], **run)
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("fdl_")
    port = _free_port()
    proc = subprocess.Popen([FLEET, "serve", "--port", str(port), "--workers", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        cert = tmp_path / "data" / "tls" / "cert.pem"
        base = f"https://localhost:{port}"
        deadline = time.time() + 60
        while True:
            try:
                ctx = ssl.create_default_context(cafile=str(cert))
                if _get(f"{base}/healthz", ctx) == 200:
                    break
            except (OSError, ssl.SSLError):
                pass
            assert time.time() < deadline, "fleet serve did not answer within 60 s"
            time.sleep(0.3)
        assert _get(f"{base}/install/field?token={token}", ctx) == 200
        assert _get(f"{base}/api/v1/updates/org.example?versionCode=1&token={token}",
                    ctx) in (200, 204)
        assert _get(f"{base}/install/field", ctx,
                    headers={"Referer": f"{base}/install/field?token={token}"}) == 401
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "/install/field" in out, "the access log is on (nothing to grep otherwise)"
    assert token not in out and token[:20] not in out, "download token in the access log"
