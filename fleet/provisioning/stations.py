"""Stations: where the adb server that sees the phones runs.

* ``local``: an adb server on this machine (``adb_host:adb_port``, default 127.0.0.1:5037).
* ``ssh``: a district PC's adb server reached over SSH with paramiko. Key authentication only;
  the server's host key must match the stored ``known_hosts`` entry (``RejectPolicy``: an
  unknown or changed key is refused, never accepted); a local loopback port forwards every
  connection through a ``direct-tcpip`` channel (RFC 4254 section 7.2) to the remote adb
  server's port, so adbutils talks to ``127.0.0.1:<local port>`` as to a local server.

Public API (issue 8's health pulls reuse it)::

    with open_station(station) as client:     # adbutils.AdbClient
        for entry in list_devices(client): ...

``station`` is a :class:`fleet.provisioning.models.Station` row or a :class:`StationSpec`
(anything with the same attributes). Errors: :class:`StationError` and its subclasses
:class:`HostKeyRejected` (unknown or changed host key) and :class:`SshUnavailable`.
"""

from __future__ import annotations

import io
import logging
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)

DEFAULT_ADB_PORT = 5037


class StationError(Exception):
    """The station cannot be reached."""


class HostKeyRejected(StationError):
    """The SSH server's host key is not the one stored for the station (or none is stored)."""


class SshUnavailable(StationError):
    """The SSH connection failed or dropped (refused, timed out, authentication failed)."""


@dataclass
class StationSpec:
    """A station's connection settings, the same attributes as the ``Station`` model.

    ``kind``: ``local`` or ``ssh``. For ``local``: ``adb_host``, ``adb_port``. For ``ssh``:
    ``ssh_host``, ``ssh_port`` (22), ``ssh_username``, ``ssh_private_key`` (OpenSSH or PEM
    text), ``ssh_known_hosts`` (lines as ``ssh-keyscan`` prints them; ``[host]:port`` for a port
    other than 22), ``adb_port`` (the adb server port on the remote machine)."""

    name: str = "local"
    kind: str = "local"
    adb_host: str = "127.0.0.1"
    adb_port: int = DEFAULT_ADB_PORT
    ssh_host: str | None = None
    ssh_port: int = 22
    ssh_username: str | None = None
    ssh_private_key: str | None = None
    ssh_known_hosts: str | None = None


def load_private_key(text: str):
    """A paramiko key from OpenSSH/PEM text (Ed25519, ECDSA or RSA; no passphrase).

    Raises StationError when the text is not a private key of those types."""
    import paramiko

    errors = []
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError) as exc:
            errors.append(f"{cls.__name__}: {exc}")
    raise StationError("the station's private key cannot be read (" + "; ".join(errors) + ")")


def host_keys_from(text: str | None):
    """``paramiko.HostKeys`` from known_hosts text (hashed entries allowed)."""
    import paramiko

    keys = paramiko.HostKeys()
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
        if entry is None:
            continue
        for name in entry.hostnames:
            keys.add(name, entry.key.get_name(), entry.key)
    return keys


class _Tunnel:
    """Loopback listener forwarding each accepted connection over a ``direct-tcpip`` channel."""

    def __init__(self, transport, remote_port: int):
        self.transport = transport
        self.remote_port = remote_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closed = threading.Event()
        self.threads: list[threading.Thread] = []
        self.accept_thread = threading.Thread(target=self._accept, name="ssh-tunnel",
                                              daemon=True)
        self.accept_thread.start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            try:
                chan = self.transport.open_channel(
                    "direct-tcpip", ("127.0.0.1", self.remote_port), peer, timeout=15)
            except Exception as exc:  # the SSH session is gone, or the remote port refused
                log.warning("ssh tunnel: cannot open a channel to adb port %s: %s",
                            self.remote_port, exc)
                conn.close()
                continue
            t = threading.Thread(target=self._pump, args=(conn, chan), daemon=True,
                                 name="ssh-pump")
            t.start()
            self.threads = [x for x in self.threads if x.is_alive()] + [t]

    def _pump(self, conn: socket.socket, chan) -> None:
        try:
            while not self.closed.is_set():
                readable, _, _ = select.select([conn, chan], [], [], 1.0)
                if conn in readable:
                    data = conn.recv(262144)
                    if not data:
                        break
                    chan.sendall(data)
                if chan in readable:
                    data = chan.recv(262144)
                    if not data:
                        break
                    conn.sendall(data)
                if not self.transport.is_active():
                    break
        except OSError:
            pass
        finally:
            chan.close()
            conn.close()

    def close(self) -> None:
        self.closed.set()
        self.sock.close()


@contextmanager
def ssh_tunnel(station) -> Iterator[int]:
    """Open the SSH session and the loopback tunnel; yields the local port that leads to the
    remote adb server. Raises HostKeyRejected, SshUnavailable, StationError."""
    import paramiko

    if not station.ssh_host or not station.ssh_username or not station.ssh_private_key:
        raise StationError(f"station {station.name}: SSH host, username and key are required")
    known = host_keys_from(station.ssh_known_hosts)
    if len(known) == 0:
        raise HostKeyRejected(f"station {station.name}: no known_hosts entry stored; add the "
                              "server's host key first (never accepted automatically)")
    client = paramiko.SSHClient()
    for hostname, keys in known.items():
        for keytype, key in keys.items():
            client.get_host_keys().add(hostname, keytype, key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    pkey = load_private_key(station.ssh_private_key)
    try:
        client.connect(station.ssh_host, port=int(station.ssh_port or 22),
                       username=station.ssh_username, pkey=pkey, allow_agent=False,
                       look_for_keys=False, timeout=15, banner_timeout=15, auth_timeout=15)
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise HostKeyRejected(f"station {station.name}: host key changed ({exc})") from exc
    except paramiko.SSHException as exc:
        client.close()
        if "not found in known_hosts" in str(exc):
            raise HostKeyRejected(f"station {station.name}: {exc}") from exc
        raise SshUnavailable(f"station {station.name}: {exc}") from exc
    except OSError as exc:
        client.close()
        raise SshUnavailable(f"station {station.name}: {exc}") from exc
    transport = client.get_transport()
    transport.set_keepalive(5)
    tunnel = _Tunnel(transport, int(station.adb_port or DEFAULT_ADB_PORT))
    log.info("station %s: ssh %s@%s:%s, adb port %s on 127.0.0.1:%s", station.name,
             station.ssh_username, station.ssh_host, station.ssh_port, station.adb_port,
             tunnel.port)
    try:
        yield tunnel.port
    finally:
        tunnel.close()
        client.close()


@contextmanager
def open_station(station) -> Iterator:
    """Yield an ``adbutils.AdbClient`` for ``station`` (local or SSH); closes the SSH session
    on exit. Raises StationError subclasses when an SSH station cannot be reached."""
    import adbutils

    if getattr(station, "kind", "local") == "ssh":
        with ssh_tunnel(station) as port:
            yield adbutils.AdbClient(host="127.0.0.1", port=port, socket_timeout=60)
    else:
        yield adbutils.AdbClient(host=station.adb_host or "127.0.0.1",
                                 port=int(station.adb_port or DEFAULT_ADB_PORT),
                                 socket_timeout=60)
