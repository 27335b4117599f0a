"""The device end of one ADB transport (one TCP connection from the adb server).

Implements the handshake (CNXN, AUTH for unauthorized phones), stream multiplexing with
OPEN/OKAY/WRTE/CLSE and the one-outstanding-write flow control of ``protocol.txt``, and the
services adbd offers: ``shell:`` (v1), ``shell,v2,...:`` (shell protocol with stdout/stderr/exit
packets), ``exec:``, ``abb_exec:``, ``sync:`` and ``reboot:``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import struct
from typing import TYPE_CHECKING

from . import protocol as P

if TYPE_CHECKING:  # pragma: no cover
    from .phone import SimPhone

log = logging.getLogger(__name__)


class StreamClosed(Exception):
    """The host closed the stream (or the connection went away)."""


class Stream:
    """One multiplexed stream: ``local_id`` is ours, ``remote_id`` the host's."""

    def __init__(self, conn: Connection, local_id: int, remote_id: int):
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.buf = bytearray()
        self.can_write = asyncio.Event()
        self.can_write.set()
        self.closed = False
        self.throttle = False  # delay OKAYs by the phone's USB throughput

    async def send(self, data: bytes) -> None:
        """Write ``data`` to the host in payload-sized WRTEs, one outstanding at a time."""
        limit = self.conn.max_payload
        for off in range(0, len(data), limit) if data else ():
            await self.can_write.wait()
            if self.closed:
                raise StreamClosed()
            self.can_write.clear()
            self.conn.send(P.A_WRTE, self.local_id, self.remote_id, data[off : off + limit])

    async def recv(self) -> bytes | None:
        """Next chunk the host wrote (acknowledged with OKAY), or ``None`` once closed."""
        if self.buf:
            data = bytes(self.buf)
            self.buf.clear()
            return data
        chunk = await self.inbox.get()
        if chunk is None:
            self.inbox.put_nowait(None)
            return None
        await self.conn.pace(len(chunk) if self.throttle else 0)
        if not self.closed:
            self.conn.send(P.A_OKAY, self.local_id, self.remote_id)
        return chunk

    async def read_exact(self, n: int) -> bytes:
        """Exactly ``n`` bytes; raises :class:`StreamClosed` if the host closes first."""
        while len(self.buf) < n:
            chunk = await self.inbox.get()
            if chunk is None:
                self.inbox.put_nowait(None)
                raise StreamClosed()
            await self.conn.pace(len(chunk) if self.throttle else 0)
            if not self.closed:
                self.conn.send(P.A_OKAY, self.local_id, self.remote_id)
            self.buf += chunk
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def host_closed(self) -> None:
        self.closed = True
        self.inbox.put_nowait(None)
        self.can_write.set()

    def close(self) -> None:
        """Close from the device side (CLSE)."""
        if not self.closed:
            self.closed = True
            self.conn.send(P.A_CLSE, self.local_id, self.remote_id)
            self.inbox.put_nowait(None)
            self.can_write.set()
        self.conn.streams.pop(self.local_id, None)


class Connection:
    """One TCP connection from the adb server to a simulated phone."""

    def __init__(self, phone: SimPhone, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter):  # fmt: skip
        self.phone = phone
        self.reader = reader
        self.writer = writer
        self.streams: dict[int, Stream] = {}
        self.next_id = 1
        self.max_payload = P.MAX_PAYLOAD_V1
        self.version = P.A_VERSION
        self.online = False
        self.host_connected = False
        self.token = b""
        self.offered_key: bytes | None = None
        self.tasks: set[asyncio.Task] = set()
        self.dead = False

    # -- I/O --------------------------------------------------------------------------------
    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        if self.dead:
            return
        crc = self.version < P.A_VERSION_SKIP_CHECKSUM
        self.writer.write(P.pack_message(command, arg0, arg1, data, crc=crc))

    async def pace(self, nbytes: int) -> None:
        """Sleep as long as ``nbytes`` take at the phone's USB throughput."""
        rate = self.phone.faults.throughput_mbps
        if nbytes and rate:
            await asyncio.sleep(nbytes / (rate * 1024 * 1024))

    def abort(self) -> None:
        """Drop the connection at once (cable pulled)."""
        self.dead = True
        for stream in list(self.streams.values()):
            stream.host_closed()
        for task in list(self.tasks):
            task.cancel()
        transport = self.writer.transport
        if transport is not None:
            transport.abort()

    async def run(self) -> None:
        try:
            while not self.dead:
                header = await self.reader.readexactly(P.HEADER.size)
                command, arg0, arg1, length, _crc, _magic = P.unpack_header(header)
                data = await self.reader.readexactly(length) if length else b""
                await self.dispatch(P.Message(command, arg0, arg1, data))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            self.dead = True
            for stream in list(self.streams.values()):
                stream.host_closed()
            for task in list(self.tasks):
                task.cancel()
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001 - socket already gone
                pass

    # -- handshake --------------------------------------------------------------------------
    def _send_cnxn(self) -> None:
        banner = P.device_banner(self.phone.banner_props(), self.phone.features())
        self.send(P.A_CNXN, P.A_VERSION, P.MAX_PAYLOAD, banner)
        self.online = True
        self.phone.events.append("online")

    def _send_token(self) -> None:
        self.token = os.urandom(P.TOKEN_SIZE)
        self.send(P.A_AUTH, P.ADB_AUTH_TOKEN, 0, self.token)

    def _auth_required(self) -> bool:
        return self.phone.faults.unauthorized or bool(self.phone.trusted_keys)

    def resume_handshake(self) -> None:
        """Called when an offline phone comes back: answer the CNXN we held back."""
        if self.host_connected and not self.online and not self.dead:
            if self._auth_required():
                self._send_token()
            else:
                self._send_cnxn()

    def accept_offered_key(self) -> bool:
        """Trust the public key the host sent (user tapped Allow) and go online."""
        if self.offered_key is None or self.dead or self.online:
            return False
        try:
            key = P.android_pubkey_to_rsa(self.offered_key)
        except ValueError:
            return False
        self.phone.trusted_keys.append(key)
        self._send_cnxn()
        return True

    async def dispatch(self, msg: P.Message) -> None:
        cmd = msg.command
        if cmd == P.A_CNXN:
            self.version = min(msg.arg0, P.A_VERSION)
            self.max_payload = max(P.MAX_PAYLOAD_V1, min(msg.arg1, P.MAX_PAYLOAD))
            self.host_connected = True
            self.online = False
            if self.phone.faults.offline:
                self.phone.events.append("offline: CNXN ignored")
                return
            if self._auth_required():
                self._send_token()
            else:
                self._send_cnxn()
        elif cmd == P.A_AUTH:
            if msg.arg0 == P.ADB_AUTH_SIGNATURE:
                for key in self.phone.trusted_keys:
                    if P.verify_token_signature(key, self.token, msg.data):
                        self._send_cnxn()
                        return
                self._send_token()
            elif msg.arg0 == P.ADB_AUTH_RSAPUBLICKEY:
                self.offered_key = msg.data
                self.phone.events.append("auth: waiting for user to allow USB debugging")
        elif not self.online:
            return
        elif cmd == P.A_OPEN:
            local_id = self.next_id
            self.next_id += 1
            stream = Stream(self, local_id, msg.arg0)
            self.streams[local_id] = stream
            name = msg.data.rstrip(b"\0").decode("utf-8", "replace")
            self.phone.services.append(name)
            task = asyncio.get_running_loop().create_task(self._serve(stream, name))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif cmd == P.A_OKAY:
            stream = self.streams.get(msg.arg1)
            if stream is not None:
                stream.can_write.set()
        elif cmd == P.A_WRTE:
            stream = self.streams.get(msg.arg1)
            self.phone.received_bytes += len(msg.data)
            limit = self.phone.faults.unplug_after_bytes
            if limit is not None and self.phone.received_bytes >= limit:
                self.phone.trigger_unplug(f"after {self.phone.received_bytes} bytes")
                return
            if stream is not None and not stream.closed:
                stream.inbox.put_nowait(msg.data)
        elif cmd == P.A_CLSE:
            stream = self.streams.pop(msg.arg1, None)
            if stream is not None:
                stream.host_closed()

    # -- services ---------------------------------------------------------------------------
    async def _serve(self, stream: Stream, name: str) -> None:
        from .services import serve

        latency = self.phone.faults.latency_ms
        if latency:
            await asyncio.sleep(latency / 1000)
        handler = serve(name)
        if handler is None:
            self.phone.events.append(f"unsupported service {name!r}")
            self.streams.pop(stream.local_id, None)
            self.send(P.A_CLSE, 0, stream.remote_id)
            return
        self.send(P.A_OKAY, stream.local_id, stream.remote_id)
        try:
            await handler(self.phone, stream, name)
        except StreamClosed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in a service must not take the phone down
            log.exception("devsim service %r failed on %s", name, self.phone.serial)
        finally:
            if not self.dead:
                stream.close()


def shell_args(name: str) -> tuple[list[str], str]:
    """Split ``shell[,opt...]:command`` into (options, command)."""
    head, _, command = name.partition(":")
    return head.split(",")[1:], command


def quote_abb(args: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)


def pack_u32(value: int) -> bytes:
    return struct.pack("<I", value)
