"""The simulator: N phones on one asyncio loop in a background thread, a thread-safe control
API (plug, unplug, replug, reboot, offline, authorize, faults), an optional link to an adb
server (so unplugging makes the phone vanish from ``adb devices`` at once, as a USB unplug does)
and an optional JSON-lines control socket for a separate CLI process.

Example::

    sim = Simulator(catalogue_profiles(3), adb_port=5037, workdir=tmp)
    sim.start()                      # phones listen on free loopback ports
    sim.connect_all()                # adb connect 127.0.0.1:PORT for each
    sim.unplug(sim.serials[0])       # vanish; reconnects refused
    sim.replug(sim.serials[0])       # back
    sim.stop()
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

from .phone import SimPhone
from .profile import PhoneProfile

log = logging.getLogger(__name__)

#: Ports adb itself scans for emulators; phones stay off them (adb's emulator port range).
EMULATOR_PORTS = range(5554, 5586)


def free_port(host: str = "127.0.0.1") -> int:
    """A free TCP port on ``host`` outside :data:`EMULATOR_PORTS`, for an adb server or anything
    listening beside the simulated phones (adb takes a listener there for an emulator)."""
    while True:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in EMULATOR_PORTS:
            return port


class AdbServerLink:
    """Talks the adb *host* protocol (``OKAY``/``FAIL`` + hex length) to an adb server."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5037, timeout: float = 10.0):
        self.host = host
        self.port = port
        self.timeout = timeout

    async def request(self, service: str) -> str:
        """Send one host service request; returns the reply text; raises ``OSError``."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.timeout
        )
        try:
            payload = service.encode()
            writer.write(f"{len(payload):04x}".encode() + payload)
            await writer.drain()
            status = await asyncio.wait_for(reader.readexactly(4), self.timeout)
            try:
                length = int(await asyncio.wait_for(reader.readexactly(4), self.timeout), 16)
                text = (await reader.readexactly(length)).decode("utf-8", "replace")
            except (asyncio.IncompleteReadError, ValueError):
                text = ""
            if status != b"OKAY":
                raise OSError(f"adb server refused {service}: {text}")
            return text
        finally:
            writer.close()

    async def connect(self, serial: str, timeout: float | None = None) -> str:
        """``adb connect``; adb answers once the phone is online (or gave up on it)."""
        try:
            if timeout is not None:
                return await asyncio.wait_for(self.request(f"host:connect:{serial}"), timeout)
            return await self.request(f"host:connect:{serial}")
        except (TimeoutError, OSError) as exc:
            log.warning("adb connect %s failed: %s", serial, exc)
            return str(exc)

    async def disconnect(self, serial: str) -> str:
        try:
            return await self.request(f"host:disconnect:{serial}")
        except (TimeoutError, OSError) as exc:
            log.debug("adb disconnect %s failed: %s", serial, exc)
            return str(exc)


class Simulator:
    """N simulated phones. Public methods are thread-safe and block until done.

    Args:
        profiles: one :class:`PhoneProfile` per phone (serials must be unique).
        base_port: first TCP port (phone i listens on ``base_port + i``); ``0`` picks free ports.
            Raises ``ValueError`` if the range touches adb's emulator ports 5554-5585.
        adb_port: port of the adb server to ``connect``/``disconnect`` phones on; ``None`` for
            no link (then an unplugged phone stays ``offline`` in adb until adb gives up).
        workdir: where pushed files are stored (a temporary folder, removed on stop, if None).
    """

    def __init__(self, profiles: list[PhoneProfile], *, base_port: int = 0,
                 adb_port: int | None = None, adb_host: str = "127.0.0.1",
                 workdir: str | Path | None = None, host: str = "127.0.0.1"):  # fmt: skip
        serials = [p.serial for p in profiles]
        if len(set(serials)) != len(serials):
            raise ValueError("phone serials must be unique")
        if base_port:
            ports = range(base_port, base_port + len(profiles))
            if any(p in EMULATOR_PORTS for p in ports):
                raise ValueError("ports 5554-5585 are adb's emulator ports; pick another range")
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="devsim-"))
        self.link = AdbServerLink(adb_host, adb_port) if adb_port else None
        self.phones: dict[str, SimPhone] = {}
        for i, profile in enumerate(profiles):
            phone = SimPhone(profile, self.workdir, port=base_port + i if base_port else 0,
                             host=host)  # fmt: skip
            phone.link = self.link
            self.phones[profile.serial] = phone
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._control_server = None
        self.control_port: int | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, *, control_port: int | None = None) -> Simulator:
        """Start the loop thread and plug every phone in (listening). Returns self."""
        ready = threading.Event()

        def runner():
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            ready.set()
            self.loop.run_forever()

        self._thread = threading.Thread(target=runner, name="devsim", daemon=True)
        self._thread.start()
        ready.wait()
        for phone in self.phones.values():
            self._call(phone.plug())
        if control_port is not None:
            self._call(self._start_control(control_port))
        return self

    def stop(self) -> None:
        """Unplug every phone (``adb disconnect`` when linked), stop the loop, remove the
        workdir."""
        if self.loop is None:
            return
        for phone in self.phones.values():
            self._call(phone.unplug("simulator stopped"))
        if self._control_server is not None:
            self._control_server.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.loop = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _call(self, coro, timeout: float = 60.0):
        if self.loop is None:
            raise RuntimeError("simulator not started")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # -- queries ----------------------------------------------------------------------------
    @property
    def serials(self) -> list[str]:
        """Phone serials (``ro.serialno``) in profile order."""
        return list(self.phones)

    def phone(self, serial: str) -> SimPhone:
        """The phone with ``ro.serialno`` or adb serial (``127.0.0.1:PORT``) ``serial``;
        raises ``KeyError``."""
        if serial in self.phones:
            return self.phones[serial]
        for phone in self.phones.values():
            if phone.adb_serial == serial:
                return phone
        raise KeyError(serial)

    def adb_serial(self, serial: str) -> str:
        """``127.0.0.1:PORT`` for a phone."""
        return self.phone(serial).adb_serial

    def table(self) -> list[dict[str, Any]]:
        """One row per phone: serial, adb serial, port, model, Android, state."""
        rows = []
        for phone in self.phones.values():
            p = phone.profile
            state = "unplugged"
            if phone.plugged:
                state = (
                    "offline"
                    if p.faults.offline
                    else ("unauthorized" if p.faults.unauthorized else "device")
                )
            rows.append({
                "serial": p.serial, "adb_serial": phone.adb_serial, "port": phone.port,
                "model": p.model, "manufacturer": p.manufacturer,
                "android": p.android_version, "api": p.api_level, "imei": p.imei,
                "state": state,
            })  # fmt: skip
        return rows

    # -- control API ------------------------------------------------------------------------
    def connect(self, serial: str, timeout: float | None = None) -> str:
        """``adb connect`` the phone on the linked adb server; returns adb's answer.

        adb answers only once the handshake is done, so an ``offline`` phone makes it wait
        (up to ``timeout`` seconds here; adb keeps the phone listed as offline)."""
        if self.link is None:
            raise RuntimeError("no adb server linked (adb_port not given)")
        return self._call(self.link.connect(self.adb_serial(serial), timeout))

    def connect_all(self) -> dict[str, str]:
        """``adb connect`` every plugged phone; ``{serial: adb's answer}``."""
        return {
            s: self.connect(s, timeout=2.0 if ph.faults.offline else None)
            for s, ph in self.phones.items()
            if ph.plugged
        }

    def disconnect(self, serial: str) -> str:
        if self.link is None:
            raise RuntimeError("no adb server linked (adb_port not given)")
        return self._call(self.link.disconnect(self.adb_serial(serial)))

    def unplug(self, serial: str) -> None:
        """Pull the cable: connections drop, the port refuses, adb forgets the phone."""
        self._call(self.phone(serial).unplug("control"))

    def replug(self, serial: str) -> None:
        """Plug the phone back in (and ``adb connect`` it when an adb server is linked)."""
        self._call(self.phone(serial).replug())

    def reboot(self, serial: str) -> None:
        """Reboot the phone (off the bus for ``SimPhone.reboot_seconds``)."""
        phone = self.phone(serial)
        self.loop.call_soon_threadsafe(phone.schedule_reboot)

    def set_offline(self, serial: str, offline: bool = True) -> None:
        self._call(self.phone(serial).set_offline(offline))

    def authorize(self, serial: str) -> bool:
        """Accept the host's key on an unauthorized phone (the user taps Allow)."""
        return self._call(self.phone(serial).authorize())

    def set_faults(self, serial: str, **faults: Any) -> None:
        """Change fault fields of :class:`~.profile.Faults` at run time."""
        phone = self.phone(serial)

        async def apply():
            for key, value in faults.items():
                if not hasattr(phone.faults, key):
                    raise ValueError(f"unknown fault {key!r}")
                setattr(phone.faults, key, value)

        self._call(apply())

    def run_shell(self, serial: str, command: str):
        """Run a command in the phone's shell directly (no adb); returns a ``Result``."""

        async def run():
            return self.phone(serial).shell.run(command)

        return self._call(run())

    # -- control socket ---------------------------------------------------------------------
    async def _start_control(self, port: int) -> None:
        async def handle(reader, writer):
            while line := await reader.readline():
                try:
                    req = json.loads(line)
                    reply = await self._control(req)
                except Exception as exc:  # noqa: BLE001 - reported to the client
                    reply = {"ok": False, "error": str(exc)}
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
            writer.close()

        self._control_server = await asyncio.start_server(handle, "127.0.0.1", port)
        self.control_port = self._control_server.sockets[0].getsockname()[1]

    async def _control(self, req: dict) -> dict:
        """JSON control: ``{"op": "unplug"|"replug"|"reboot"|"offline"|"online"|"authorize"|
        "faults"|"list", "serial": S, ...}``."""
        op = req.get("op")
        if op == "list":
            return {"ok": True, "phones": self.table()}
        phone = self.phone(req["serial"])
        if op == "unplug":
            await phone.unplug("control")
        elif op == "replug":
            await phone.replug()
        elif op == "reboot":
            phone.schedule_reboot()
        elif op in ("offline", "online"):
            await phone.set_offline(op == "offline")
        elif op == "authorize":
            return {"ok": await phone.authorize()}
        elif op == "faults":
            names = {f.name for f in dataclasses.fields(phone.faults)}
            for key, value in req.get("faults", {}).items():
                if key not in names:
                    raise ValueError(f"unknown fault {key!r}")
                setattr(phone.faults, key, value)
        else:
            raise ValueError(f"unknown op {op!r}")
        return {"ok": True}
