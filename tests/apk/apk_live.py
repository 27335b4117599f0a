"""Real servers for the APK repository tests and benchmarks: a repository on disk with a
released APK, ``fleet serve`` (gunicorn) in a subprocess, and nginx running
``deploy/nginx-fleet.conf``. Importable as ``apk_live`` (tests/apk is on sys.path for its own
tests; benchmarks add it)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NGINX_CONF = REPO / "deploy" / "nginx-fleet.conf"
FLEET = str(Path(sys.executable).with_name("fleet"))
PASSWORD = "test-password-123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Repository:
    """A fleet data dir whose database holds one released APK and tokens for it."""

    root: Path
    data_dir: Path
    database_url: str
    apk: Path
    sha256: str
    size: int
    channel: str
    token: str
    revoked_token: str
    other_channel_token: str
    release_id: int
    device_tokens: list[str]

    def env(self, **extra) -> dict:
        env = os.environ.copy()
        for key in list(env):
            if key.startswith("FLEET_"):
                del env[key]
        env.update({
            "FLEET_DATA_DIR": str(self.data_dir),
            "FLEET_DATABASE_URL": self.database_url,
            "FLEET_SESSION_COOKIE_SECURE": "false",
            "FLEET_RATELIMIT_ENABLED": "false",
            "FLEET_SCHEDULER_IN_SERVER": "false",
        })
        env.update({k: str(v) for k, v in extra.items()})
        return env


def build_repository(root: Path, apk: Path, *, devices: int = 0, device_tokens: int = 0,
                     database_url: str | None = None) -> Repository:
    """Upload ``apk`` as user "uploader", approve it as "approver" (four-eyes), release it to
    the default channel "production", issue a channel token, a revoked one and a token of
    another channel; register ``devices`` devices (for update-check load) and issue
    ``device_tokens`` per-device tokens for the first of them. Commits. The database is
    ``database_url`` (an empty one, e.g. a fresh PostgreSQL database), else a SQLite file
    under ``root``."""
    from fleet_testing import make_test_app

    from fleet.apk import operations as ops
    from fleet.auth.operations import create_user
    from fleet.cli import upgrade_database
    from fleet.extensions import db

    root.mkdir(parents=True, exist_ok=True)
    data_dir = root / "data"
    url = database_url or f"sqlite:///{root / 'fleet.sqlite3'}"
    app = make_test_app(data_dir, url)
    with app.app_context():
        upgrade_database()
        uploader = create_user("uploader", PASSWORD, "admin", actor=None)
        approver = create_user("approver", PASSWORD, "admin", actor=None)
        db.session.flush()
        with open(apk, "rb") as fh:
            release, _ = ops.upload_apk(fh, file_name=apk.name, actor=uploader,
                                        release_notes="Tested for the campaign.")
        assert release.status == "vetted", release.reasons
        ops.start_testing(release, actor=uploader)
        ops.approve_release(release, actor=approver)
        channel = ops.create_channel({"name": "production", "is_default": True}, actor=approver)
        ops.release_to_channel(release, channel, actor=approver)
        _t, token = ops.issue_download_token(channel=channel, actor=approver, label="poster")
        revoked, revoked_plain = ops.issue_download_token(channel=channel, actor=approver)
        ops.revoke_download_token(revoked, actor=approver)
        other = ops.create_channel({"name": "pilot", "is_test": True}, actor=approver)
        _o, other_plain = ops.issue_download_token(channel=other, actor=approver)
        plain_device_tokens = []
        if devices:
            from sqlalchemy import select

            from fleet.inventory.models import Device

            _register_devices(devices)
            for device in db.session.scalars(select(Device).order_by(Device.id)
                                             .limit(device_tokens)):
                _d, plain = ops.issue_download_token(device=device, actor=approver)
                plain_device_tokens.append(plain)
        db.session.commit()
        repo = Repository(root=root, data_dir=data_dir, database_url=url, apk=apk,
                          sha256=release.sha256, size=release.size, channel="production",
                          token=token, revoked_token=revoked_plain,
                          other_channel_token=other_plain, release_id=release.id,
                          device_tokens=plain_device_tokens)
        db.session.remove()
    with app.app_context():
        db.engine.dispose()
    return repo


def _register_devices(count: int) -> None:
    """Insert ``count`` devices directly (bulk, for load tests), API levels 21-34."""
    from sqlalchemy import insert

    from fleet.extensions import db
    from fleet.inventory.models import Device
    from fleet.timeutil import utcnow

    now = utcnow()
    rows = [{"asset_tag": f"BENCH-{n:06d}", "manufacturer": "Bench", "model": "B1",
             "api_level": 21 + n % 14, "status": "in_field", "ownership": "institution",
             "notes": "", "created_at": now, "updated_at": now} for n in range(count)]
    for i in range(0, len(rows), 1000):
        db.session.execute(insert(Device), rows[i:i + 1000])


def wait_http(url: str, *, timeout: float = 60, context: ssl.SSLContext | None = None) -> None:
    import urllib.request

    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5, context=context) as resp:
                if resp.status == 200:
                    return
        except Exception as exc:  # noqa: BLE001 - retry until the deadline
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s: {last!r}")


def unverified_tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class FleetServer:
    """``fleet serve`` in a subprocess (its own session, killed by process group id)."""

    def __init__(self, repo: Repository, *, tls: bool = True, workers: int = 2,
                 worker_class: str | None = None, host: str = "127.0.0.1", **config):
        self.repo, self.tls, self.port = repo, tls, free_port()
        cmd = [FLEET, "serve", "--no-init", "--host", host, "--port", str(self.port),
               "--workers", str(workers)]
        if not tls:
            cmd.append("--no-tls")
        if worker_class:
            config["WORKER_CLASS"] = worker_class
        self.log = repo.root / f"serve-{self.port}.log"
        self._log_fh = open(self.log, "w")
        self.proc = subprocess.Popen(
            cmd, env=repo.env(**{f"FLEET_{k}": v for k, v in config.items()}),
            stdout=self._log_fh, stderr=subprocess.STDOUT, start_new_session=True)
        scheme = "https" if tls else "http"
        self.base = f"{scheme}://127.0.0.1:{self.port}"
        try:
            wait_http(self.base + "/healthz", context=unverified_tls() if tls else None)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"fleet serve failed:\n{self.log.read_text()[-3000:]}") from None

    def pids(self) -> list[int]:
        """The gunicorn master and its workers."""
        import psutil

        try:
            parent = psutil.Process(self.proc.pid)
            return [parent.pid] + [c.pid for c in parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log_fh.close()


class Nginx:
    """nginx running the shipped ``deploy/nginx-fleet.conf`` on free ports, proxying to
    ``upstream_port`` (one app process, or a list of them) and aliasing ``apk_dir``; extra
    ``locations`` (raw nginx text) go into the TLS server (benchmarks add a plain static location
    there). The site's access log (its own ``fleet_notoken`` format) goes to ``access_log`` when
    given, else it is off. ``uri_log``, a test-only log, records nginx's final ``$uri`` and the
    upstream of every request (after an X-Accel-Redirect, the internal ``/protected-apks/``
    path: the proof that nginx sent the file)."""

    def __init__(self, root: Path, *, upstream_port: int | list[int], apk_dir: Path, cert: Path,
                 key: Path, extra_locations: str = "", extra_http: str = "",
                 access_log: Path | None = None, uri_log: Path | None = None):
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(exe).exists():
            raise FileNotFoundError("nginx is required (Debian package nginx)")
        self.root, self.access_log, self.uri_log = root, access_log, uri_log
        root.mkdir(parents=True, exist_ok=True)
        for sub in ("logs", "tmp"):
            (root / sub).mkdir(exist_ok=True)
        self.http_port, self.https_port = free_port(), free_port()
        site = NGINX_CONF.read_text()
        ports = upstream_port if isinstance(upstream_port, list) else [upstream_port]
        replacements = {
            "server 127.0.0.1:8000;": "\n    ".join(f"server 127.0.0.1:{p};" for p in ports),
            "listen 80;": f"listen 127.0.0.1:{self.http_port};",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{self.https_port} ssl http2;",
            "/etc/ssl/fleet/fullchain.pem": str(cert),
            "/etc/ssl/fleet/privkey.pem": str(key),
            "alias /var/lib/fleet/apks/;": f"alias {str(apk_dir).rstrip('/')}/;",
        }
        logs = [f"access_log {access_log} fleet_notoken;"] if access_log else []
        if uri_log:
            logs.append(f"access_log {uri_log} fleet_uri;")
        replacements["access_log /var/log/nginx/fleet-access.log fleet_notoken;"] = (
            "\n    ".join(logs) or "access_log off;")
        for old, new in replacements.items():
            if old not in site:
                raise AssertionError(f"deploy/nginx-fleet.conf no longer contains {old!r}")
            site = site.replace(old, new)
        log_formats = ("log_format fleet_uri '\"$request_method $fleet_path\" $status "
                       "$body_bytes_sent uri=$uri upstream=$upstream_addr';") if uri_log else ""
        if extra_locations:
            marker = "    # Reached only through X-Accel-Redirect"
            site = site.replace(marker, extra_locations + "\n" + marker)
        tmp = root / "tmp"
        # Workers run as this user so they can read the (pytest, mode 0700) store; in
        # production the nginx user needs read access to APK_STORE_DIR instead.
        import pwd

        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
        conf = f"""
{user}
worker_processes 2;
pid {root}/nginx.pid;
error_log {root}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    {log_formats}
    {site}
    {extra_http}
}}
"""
        self.conf = root / "nginx.conf"
        self.conf.write_text(conf)
        check = subprocess.run([exe, "-t", "-p", str(root), "-c", str(self.conf)],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed: {check.stderr}")
        self.proc = subprocess.Popen([exe, "-p", str(root), "-c", str(self.conf),
                                      "-g", "daemon off; master_process on;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self.base = f"https://127.0.0.1:{self.https_port}"
        wait_http(self.base + "/healthz", context=unverified_tls())

    def pids(self) -> list[int]:
        import psutil

        try:
            parent = psutil.Process(self.proc.pid)
            return [parent.pid] + [c.pid for c in parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
