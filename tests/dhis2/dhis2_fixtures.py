"""Pytest fixtures starting the DHIS2 test server (``fake_dhis2.py``) as a real process.

Fixtures:
    dhis2_server: a fresh :class:`Dhis2ServerProcess` per test (261 org units in a
        country > region > district > facility tree, 5 user groups, empty dataStore).
    dhis2_client: a :class:`fleet.dhis2.client.Dhis2Client` for it (token auth, short
        timeouts and back-off so fault tests stay fast).
    dhis2_tls_server: the same server over HTTPS, certificate from a throw-away CA.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleet.dhis2.client import Dhis2Client

SERVER_SCRIPT = Path(__file__).with_name("fake_dhis2.py")
START_TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class TLSFiles:
    """PEM files: a private test CA (``ca``) and a server certificate for 127.0.0.1."""

    ca: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path, *, hostname_ip: str = "127.0.0.1") -> TLSFiles:
    """Create a throw-away CA and a server certificate for ``hostname_ip`` (IP SAN)."""
    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("fleet test CA"))
        .issuer_name(name("fleet test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(hostname_ip))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(hostname_ip))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TLSFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


class Dhis2ServerProcess:
    """A running ``fake_dhis2.py`` process: its URL, credentials and test knobs."""

    def __init__(self, log_dir: Path, *, tls: TLSFiles | None = None, **options: int):
        self.token = "d2pat_" + secrets.token_hex(16)
        self.username = "admin"
        self.password = secrets.token_urlsafe(12)
        self._secret = secrets.token_hex(16)
        self._stderr = open(log_dir / "dhis2_test_server.stderr", "w")  # noqa: SIM115
        # "--name=value": a generated secret may start with "-"
        cmd = [
            sys.executable,
            str(SERVER_SCRIPT),
            "--port=0",
            f"--token={self.token}",
            f"--username={self.username}",
            f"--password={self.password}",
            f"--control-secret={self._secret}",
        ]
        for name, value in options.items():
            cmd.append(f"--{name}={value}")
        if tls is not None:
            cmd += [f"--certfile={tls.cert}", f"--keyfile={tls.key}"]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        self.port = self._read_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._http = requests.Session()
        if tls is not None:
            self._http.verify = str(tls.ca)
        self._http.headers["X-Test-Control"] = self._secret

    def _read_port(self) -> int:
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                line = self.process.stdout.readline()
                if line.startswith("DHIS2_TEST_SERVER_PORT="):
                    return int(line.strip().split("=", 1)[1])
                if not line and self.process.poll() is not None:
                    break
        self.stop()
        log = Path(self._stderr.name).read_text(errors="replace")[-2000:]
        raise RuntimeError(f"DHIS2 test server did not start; its stderr:\n{log}")

    # ------------------------------------------------------------ knobs

    def _control(self, method: str, path: str, payload=None):
        response = self._http.request(
            method, f"{self.url}/__test__/{path}", json=payload, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def set_faults(self, **faults) -> None:
        """E.g. ``set_faults(fail_next=2, fail_status=503)``, ``set_faults(delay_next=1,
        delay_seconds=2)``, ``set_faults(forbid_next=1, path_prefix="/api/dataStore")``."""
        self._control("POST", "faults", faults)

    def reset(self) -> None:
        self._control("POST", "reset")

    def requests_log(self) -> list[dict]:
        """Every API request the server answered: ``{method, path, query, status}``."""
        return self._control("GET", "requests")

    def datastore(self) -> dict:
        """The server's whole dataStore, read directly (not through the client)."""
        return self._control("GET", "datastore")

    def put_value(self, namespace: str, key: str, value) -> None:
        """Seed a dataStore value directly."""
        self._control("PUT", f"datastore/{quote(namespace, safe='')}/{quote(key, safe='')}", value)

    def patch_org_unit(self, uid: str, **changes) -> dict:
        """Rename (``name=``), recode (``code=``) or move (``parent=<uid>``) an org unit."""
        return self._control("POST", f"organisationUnits/{uid}", changes)

    def client(self, **kwargs) -> Dhis2Client:
        """A token-authenticated client with test-friendly timeouts and back-off."""
        options = {"token": self.token, "timeout": (2, 5), "retries": 3, "backoff": 0.01}
        options.update(kwargs)
        if "username" in kwargs:
            options.pop("token")
        return Dhis2Client(self.url, **options)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout:
            self.process.stdout.close()
        self._stderr.close()


@pytest.fixture
def dhis2_server(tmp_path):
    """A fresh DHIS2 test server process for one test; stopped afterwards."""
    server = Dhis2ServerProcess(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dhis2_client(dhis2_server):
    """A :class:`Dhis2Client` (token auth) talking to ``dhis2_server``."""
    client = dhis2_server.client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def dhis2_tls_server(tmp_path):
    """A DHIS2 test server speaking HTTPS with a certificate from a private CA
    (``server.tls.ca`` is the CA bundle to trust)."""
    tls = make_tls_files(tmp_path)
    server = Dhis2ServerProcess(tmp_path, tls=tls)
    server.tls = tls
    try:
        yield server
    finally:
        server.stop()


def dump(value) -> str:
    """Stable JSON text of a value, for comparisons in failure messages."""
    return json.dumps(value, sort_keys=True)
