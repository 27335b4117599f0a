"""pytest plugin: a real adb server on a private port and simulated phones attached to it.

Register with ``pytest_plugins = ["devsim_fixtures"]`` (``tests/provisioning/conftest.py``
does, after putting this folder on ``sys.path``). Fixtures:

``adb_binary``   -- path of the Debian adb (29.x); a missing adb fails the test.
``adb_server``   -- an :class:`AdbServer` started with ``adb -P PORT start-server`` under a
                    private HOME (its own ``~/.android/adbkey``), ADB_VENDOR_KEYS unset, killed
                    with ``kill-server`` at teardown.
``make_adb_server`` -- factory: ``make_adb_server(binary=None)`` for a second server or the
                    adb bundled in the adbutils wheel (:func:`bundled_adb`).
``devsim``       -- factory: ``devsim(profiles=None, count=1, server=None, connect=True, **kw)``
                    -> started :class:`~fleet.provisioning.devsim.Simulator` linked to the
                    server (default ``adb_server``), phones ``adb connect``-ed; stopped at
                    teardown.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from fleet.provisioning.devsim import Simulator, catalogue_profiles, free_port


def debian_adb() -> str:
    path = shutil.which("adb")
    if path is None:
        raise FileNotFoundError("adb not found on PATH (Debian package adb)")
    return path


def bundled_adb() -> str:
    """The adb binary shipped inside the adbutils wheel (``adbutils/binaries/adb``)."""
    import adbutils

    path = Path(adbutils.__file__).parent / "binaries" / "adb"
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: this adbutils wheel bundles no adb")
    return str(path)


class AdbServer:
    """A real adb server process on ``127.0.0.1:port`` with its own HOME."""

    def __init__(self, binary: str, home: Path):
        self.binary = binary
        self.home = home
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if k != "ADB_VENDOR_KEYS"}
        self.env["HOME"] = str(home)
        self.env.pop("ANDROID_SERIAL", None)
        self.env.pop("ANDROID_ADB_SERVER_PORT", None)
        # No mDNS discovery (no multicast traffic; newer adb otherwise waits 3 s at start-up)
        # and no libusb scanning: the phones here are all on loopback TCP.
        self.env["ADB_MDNS"] = "0"
        self.env["ADB_MDNS_OPENSCREEN"] = "0"
        self.env["ADB_LIBUSB"] = "0"

    def run(self, *args: str, timeout: float = 60, check: bool = False,
            input: bytes | None = None) -> subprocess.CompletedProcess:  # fmt: skip
        """Run ``adb -P PORT ARGS...``; returns the completed process (text output)."""
        proc = subprocess.run(
            [self.binary, "-P", str(self.port), *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            input=input,
        )
        proc.stdout = proc.stdout.decode("utf-8", "replace")
        proc.stderr = proc.stderr.decode("utf-8", "replace")
        if check and proc.returncode != 0:
            raise AssertionError(f"adb {' '.join(args)} failed: {proc.stderr}{proc.stdout}")
        return proc

    def start(self) -> AdbServer:
        self.run("start-server", check=True)
        return self

    def stop(self) -> None:
        try:
            self.run("kill-server", timeout=20)
        except subprocess.TimeoutExpired:
            pass

    def devices(self) -> dict[str, str]:
        """``{serial: state}`` from ``adb devices``."""
        out = self.run("devices", check=True).stdout
        rows = [line.split("\t") for line in out.splitlines()[1:] if "\t" in line]
        return {serial: state for serial, state in rows}

    def wait_state(self, serial: str, state: str | None, timeout: float = 15.0) -> None:
        """Wait until ``serial`` is in ``state`` (``None``: absent); raises AssertionError."""
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            seen = self.devices().get(serial)
            if seen == state:
                return
            time.sleep(0.1)
        raise AssertionError(f"{serial} is {seen!r}, expected {state!r}")

    def client(self):
        """An ``adbutils.AdbClient`` for this server."""
        import adbutils

        return adbutils.AdbClient(host="127.0.0.1", port=self.port)


@pytest.fixture
def adb_binary() -> str:
    return debian_adb()


@pytest.fixture
def make_adb_server(tmp_path_factory):
    servers: list[AdbServer] = []

    def make(binary: str | None = None) -> AdbServer:
        home = tmp_path_factory.mktemp("adbhome")
        server = AdbServer(binary or debian_adb(), home).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def adb_server(make_adb_server) -> AdbServer:
    return make_adb_server()


@pytest.fixture
def devsim(tmp_path_factory, request):
    sims: list[Simulator] = []

    def make(profiles=None, *, count: int = 1, server: AdbServer | None = None,
             connect: bool = True, **kw) -> Simulator:  # fmt: skip
        if server is None:
            server = request.getfixturevalue("adb_server")
        if profiles is None:
            profiles = catalogue_profiles(count)
        sim = Simulator(
            profiles, adb_port=server.port, workdir=tmp_path_factory.mktemp("devsim"), **kw
        ).start()
        sims.append(sim)
        if connect:
            for serial in sim.serials:
                phone = sim.phone(serial)
                sim.connect(serial, timeout=1.0 if phone.faults.offline else None)
                if not (phone.faults.offline or phone.faults.unauthorized):
                    server.wait_state(phone.adb_serial, "device")
        return sim

    yield make
    for sim in sims:
        sim.stop()
