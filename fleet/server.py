"""``fleet serve``: gunicorn (a production WSGI server) over HTTPS, with a self-signed
certificate made on first run when none is configured."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def ensure_self_signed_cert(
    cert_path: Path, key_path: Path, *, hostnames=("localhost",), days: int = 825
) -> bool:
    """Create a self-signed RSA-2048 certificate for ``hostnames`` plus 127.0.0.1 and ::1 if
    ``cert_path`` does not exist. Returns True when it created one. Key file mode 0600.
    825 days is the longest validity browsers accept for TLS server certificates (Apple, 2019)."""
    if cert_path.exists() and key_path.exists():
        return False
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fleet self-signed"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    san = [x509.DNSName(h) for h in hostnames]
    san += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return True


def tls_paths(app) -> tuple[Path, Path, bool]:
    """(certificate, key, created) for ``app``: configured ones, or a self-signed pair kept in
    ``<DATA_DIR>/tls``."""
    if app.config["TLS_CERT"] and app.config["TLS_KEY"]:
        return Path(app.config["TLS_CERT"]), Path(app.config["TLS_KEY"]), False
    tls_dir = Path(app.config["DATA_DIR"]) / "tls"
    cert, key = tls_dir / "cert.pem", tls_dir / "key.pem"
    created = ensure_self_signed_cert(cert, key)
    return cert, key, created


#: gthread threads per gunicorn worker (config THREADS), started as needed; see run_gunicorn.
DEFAULT_THREADS = 1024

#: Seconds a new connection may stay silent after gunicorn's own 5 s wait before it is closed
#: (gunicorn ``keepalive``; with keep-alive off it is only this). gunicorn's default of 2 s
#: closes a phone whose TLS ClientHello comes more than ~7 s after its TCP connect -- three
#: lost packets on a 2G link -- while the phone itself (OkHttp's default connect timeout,
#: which covers the TLS handshake) waits 10 s; nginx's client_header_timeout is 60 s.
FIRST_BYTE_GRACE = 25


def closing_thread_worker():
    """gunicorn's gthread worker class, except that a connection the worker closes after its
    last request is closed in that request's thread, not on the worker's main loop.

    gunicorn 27's gthread closes such a connection gracefully (RFC 9112 section 9.6: send FIN,
    then wait up to 2 s for the client to close too) inside ``finish_request``, which runs on
    the main loop that also accepts connections. Each client that does not close at once -- a
    phone that lost its signal, or simply a slow link -- then stops the worker from accepting
    for up to 2 s, one after another: after a burst of 100 such clients, the next update check
    waited over 60 s (benchmarks/peak_load.py). Closing in the request's thread (there are
    THREADS of them) lingers just as politely without holding anything else up; the main
    loop's own close then finds the socket already closed and returns at once."""
    from gunicorn.workers.gthread import ThreadWorker

    class ClosingThreadWorker(ThreadWorker):
        def handle(self, conn):
            keep = super().handle(conn)
            if keep is False:  # not kept alive, not deferred to the poller
                conn.close(graceful=True)
            return keep

    return ClosingThreadWorker


def run_gunicorn(
    app, *, host: str, port: int, workers: int, certfile: Path | None, keyfile: Path | None
) -> None:
    """Serve ``app`` with gunicorn in this process (blocks)."""
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            # gthread: a download holds one thread for its whole length (minutes at the
            # 10-50 KB/s of field phones), so each worker gets DEFAULT_THREADS threads: two
            # workers hold ~1,000 slow downloads with threads to spare for update checks
            # (benchmarks/apk_download.py; why not gevent: docs/apk-repository.md). Behind
            # nginx, APK_X_ACCEL_REDIRECT takes the downloads off these threads altogether.
            worker_class = app.config.get("WORKER_CLASS") or "gthread"
            threads = int(app.config.get("THREADS") or DEFAULT_THREADS)
            if worker_class == "gthread":
                self.cfg.set("worker_class", closing_thread_worker())
                self.cfg.set("threads", threads)
            else:
                self.cfg.set("worker_class", worker_class)
            self.cfg.set(
                "worker_connections",
                int(app.config.get("WORKER_CONNECTIONS") or max(1000, threads)),
            )
            self.cfg.set("timeout", 120)
            self.cfg.set("keepalive", FIRST_BYTE_GRACE)
            self.cfg.set("accesslog", "-")
            # No query string, no Referer: phones send download tokens as ?token= (security.md)
            self.cfg.set("access_log_format",
                         '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(L)s')
            if certfile:
                self.cfg.set("certfile", str(certfile))
                self.cfg.set("keyfile", str(keyfile))

        def load(self):
            return app

    _App().run()
