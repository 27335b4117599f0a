"""A real OpenSSH server on 127.0.0.1 for SSH station tests.

``sshd`` fixture -> :class:`Sshd`: Debian's ``/usr/sbin/sshd -D`` with its own config, a fresh
Ed25519 host key and user key, key authentication only, TCP forwarding allowed (the station's
``direct-tcpip`` tunnel), a temporary AuthorizedKeysFile, on a free port. ``stop()`` kills the
listener and every session process it forked (a stopped district PC), ``start()`` brings it back
on the same port with the same host key. A missing sshd fails the test.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from devsim_fixtures import free_port

SSHD = "/usr/sbin/sshd"


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fleet-test", "-f",
                    str(path)], check=True, capture_output=True)
    return path.with_suffix(".pub").read_text().strip()


class Sshd:
    def __init__(self, workdir: Path):
        if not Path(SSHD).exists() or shutil.which("ssh-keygen") is None:
            raise FileNotFoundError("sshd/ssh-keygen missing: install Debian openssh-server")
        self.dir = workdir
        self.port = free_port()
        self.user = getpass.getuser()
        self.host_key = workdir / "host_ed25519"
        self.host_pub = keygen(self.host_key)
        self.user_key = workdir / "user_ed25519"
        user_pub = keygen(self.user_key)
        (workdir / "authorized_keys").write_text(user_pub + "\n")
        os.chmod(workdir / "authorized_keys", 0o600)
        self.config = workdir / "sshd_config"
        self.config.write_text(
            f"ListenAddress 127.0.0.1\nHostKey {self.host_key}\nPidFile {workdir}/sshd.pid\n"
            f"AuthorizedKeysFile {workdir}/authorized_keys\nStrictModes no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nUsePAM no\nPermitRootLogin prohibit-password\n"
            f"AllowUsers {self.user}\nAllowTcpForwarding yes\nLogLevel VERBOSE\n")
        self.proc: subprocess.Popen | None = None
        self.log = workdir / "sshd.log"

    @property
    def known_hosts(self) -> str:
        """The known_hosts line ``ssh-keyscan -p PORT 127.0.0.1`` prints for this server."""
        kind, key = self.host_pub.split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {key}\n"

    def start(self) -> Sshd:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config), "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"sshd exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-2.0"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("sshd did not start")

    def stop(self) -> None:
        """Kill sshd and the session processes it forked (the tunnel goes down at once)."""
        if self.proc is None:
            return
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        self.proc.kill()
        self.proc.wait(10)
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        self.proc = None


@pytest.fixture
def sshd(tmp_path_factory):
    server = Sshd(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()
