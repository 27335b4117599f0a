"""ADB adapter over adbutils: the few phone operations provisioning and health pulls need.

Everything here talks to an adb server (local, or through an SSH tunnel opened by
:mod:`fleet.provisioning.stations`) with an ``adbutils.AdbClient``. Shell commands go through
``shell,v2`` (exit status and stderr kept apart, AOSP ``packages/modules/adb/protocol.txt``); a
phone that loses its connection mid-command raises :class:`PhoneGone`, never "exit 0 with no
output" (the adb command line's behaviour when the exit packet never comes).

Public API (issue 8's health pulls reuse it)::

    list_devices(client) -> list[DeviceEntry]          # adb serial + state, like `adb devices`
    device_serial(adb_device) -> str                   # the phone's own serial (ro.serialno)
    Phone(client, adb_serial)                          # shell/getprop/install/settings/PIN...

Errors: :class:`PhoneGone` (unplugged, offline, connection cut), :class:`AdbUnavailable`
(no adb server answering), :class:`CommandFailed` (non-zero exit status, with the output).
"""

from __future__ import annotations

import logging
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fleet.reports.parsers import (
    parse_battery,
    parse_df,
    parse_getprop,
    parse_meminfo,
    parse_parcel_string,
    parse_pm_list_versions,
)

log = logging.getLogger(__name__)

#: Bytes written per chunk to a streamed install (1 MiB, adb's maximum payload).
CHUNK = 1024 * 1024


class AdbError(Exception):
    """Base class of this adapter's errors."""


class AdbUnavailable(AdbError):
    """No adb server answers at the station's address (killed, or the SSH tunnel is down)."""


class PhoneGone(AdbError):
    """The phone left the bus (unplugged, offline) or the connection was cut mid-command."""


class CommandFailed(AdbError):
    """A shell command exited non-zero. ``result`` holds the :class:`ShellResult`."""

    def __init__(self, result: ShellResult):
        self.result = result
        super().__init__(f"`{result.command}` exited {result.exit_code}: "
                         f"{(result.stderr or result.stdout).strip()[:300]}")


@dataclass(frozen=True)
class DeviceEntry:
    """One row of ``adb devices``: the adb serial (``127.0.0.1:PORT`` for TCP phones, the USB
    serial otherwise) and the state (``device``, ``offline``, ``unauthorized``...)."""

    adb_serial: str
    state: str


@dataclass(frozen=True)
class ShellResult:
    """A shell command's outcome: exit status (0-255), stdout and stderr as text."""

    command: str
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _is_connection_error(exc: BaseException) -> bool:
    import adbutils

    return isinstance(exc, OSError | EOFError | adbutils.AdbError | adbutils.AdbTimeout)


def list_devices(client) -> list[DeviceEntry]:
    """Every phone the adb server knows, with its state (``host:devices``).

    Raises AdbUnavailable when the server does not answer."""
    try:
        return [DeviceEntry(d.serial, d.state) for d in client.list()]
    except Exception as exc:
        if _is_connection_error(exc):
            raise AdbUnavailable(f"adb server {client.host}:{client.port}: {exc}") from exc
        raise


def device_serial(adb_device) -> str:
    """The phone's own serial number (``getprop ro.serialno``), not the adb transport serial:
    a phone attached over TCP is listed as ``127.0.0.1:PORT``. Raises PhoneGone."""
    try:
        value = adb_device.shell2("getprop ro.serialno", timeout=30, v2=True).stdout.strip()
    except Exception as exc:
        if _is_connection_error(exc):
            raise PhoneGone(f"{adb_device.serial}: {exc}") from exc
        raise
    return value or adb_device.serial


def wait_for_change(client, timeout: float) -> None:
    """Block until the adb server reports a device change or ``timeout`` seconds pass
    (``host:track-devices``); returns early on any change. Raises AdbUnavailable."""
    try:
        conn = client.make_connection(timeout=timeout)
    except Exception as exc:
        if _is_connection_error(exc):
            raise AdbUnavailable(str(exc)) from exc
        raise
    try:
        conn.conn.settimeout(timeout)
        conn.send_command("host:track-devices")
        conn.check_okay()
        conn.read_string_block()  # the current list, sent at once
        try:
            conn.read_string_block()  # the next change
        except TimeoutError:
            pass
    except Exception as exc:
        if isinstance(exc, TimeoutError):
            return
        if _is_connection_error(exc):
            raise AdbUnavailable(str(exc)) from exc
        raise
    finally:
        conn.close()


class Phone:
    """One phone on an adb server. ``client`` is an ``adbutils.AdbClient``; ``adb_serial`` the
    transport serial from :func:`list_devices`. Every method raises :class:`PhoneGone` when the
    phone goes away and :class:`AdbUnavailable` when the server does."""

    def __init__(self, client, adb_serial: str):
        self.client = client
        self.adb_serial = adb_serial
        self.device = client.device(adb_serial)

    # ---- state ------------------------------------------------------------------------------
    def state(self) -> str | None:
        """The phone's current adb state, or None when it is not listed at all."""
        for entry in list_devices(self.client):
            if entry.adb_serial == self.adb_serial:
                return entry.state
        return None

    def _gone(self, exc: BaseException, what: str) -> AdbError:
        try:
            state = self.state()
        except AdbUnavailable as down:
            return down
        return PhoneGone(f"{self.adb_serial} ({state or 'absent'}) during {what}: {exc}")

    # ---- shell ------------------------------------------------------------------------------
    def shell(self, command: str | list[str], *, timeout: float = 120,
              check: bool = False) -> ShellResult:
        """Run ``command`` over ``shell,v2`` (a list is quoted with shlex). ``check`` raises
        CommandFailed on a non-zero exit status."""
        if isinstance(command, list | tuple):
            command = shlex.join(command)
        try:
            raw = self.device.shell2(command, timeout=timeout, v2=True)
        except Exception as exc:
            if _is_connection_error(exc):
                raise self._gone(exc, command.split()[0] if command else "shell") from exc
            raise
        result = ShellResult(command, raw.returncode, raw.stdout, raw.stderr)
        if check and not result.ok:
            raise CommandFailed(result)
        return result

    def getprops(self) -> dict[str, str]:
        """All system properties (one ``getprop`` call)."""
        return parse_getprop(self.shell("getprop", check=True).stdout)

    def getprop(self, key: str) -> str:
        return self.shell(["getprop", key], check=True).stdout.strip()

    def serialno(self) -> str:
        """``ro.serialno``: the phone's own serial."""
        return self.getprop("ro.serialno")

    def imei(self) -> str | None:
        """IMEI via ``service call iphonesubinfo 1`` (readable over ADB up to Android 9; later
        versions answer a SecurityException, then None)."""
        res = self.shell("service call iphonesubinfo 1")
        if not res.ok or "Exception" in res.stdout:
            return None
        value = parse_parcel_string(res.stdout)
        return value if value and value.isdigit() and len(value) in (14, 15) else None

    def ram_mb(self) -> int | None:
        """MemTotal from ``/proc/meminfo`` in MiB (rounded down), None when unreadable."""
        return parse_meminfo(self.shell("cat /proc/meminfo", check=True).stdout)["ram_total_mb"]

    def free_storage_mb(self) -> int | None:
        """Free MiB on ``/data`` (``df -k /data``, rounded down), None when unreadable."""
        return parse_df(self.shell("df -k /data", check=True).stdout)["storage_free_mb"]

    def battery_level(self) -> int | None:
        """Battery level in percent (``dumpsys battery``), None when unreadable."""
        return parse_battery(self.shell("dumpsys battery", check=True).stdout)["battery_level"]

    def packages(self) -> dict[str, int | None]:
        """Installed packages with versionCode (``pm list packages --show-versioncode``; None
        where the line has no versionCode, as on Android before 9)."""
        return parse_pm_list_versions(
            self.shell("pm list packages --show-versioncode", check=True).stdout)

    def crypto(self) -> tuple[str, str]:
        """(``ro.crypto.state``, ``ro.crypto.type``): ``encrypted``/``unencrypted``/``""`` and
        ``file``/``block``/``""`` (AOSP ``vold``)."""
        props = self.getprops()
        return props.get("ro.crypto.state", ""), props.get("ro.crypto.type", "")

    def is_rooted(self) -> bool:
        """True when an ``su`` binary is on the path or the build is debuggable (ro.debuggable=1)
        and not a user build; the production Capture app refuses rooted phones."""
        res = self.shell("which su")
        return res.ok and bool(res.stdout.strip())

    # ---- changes ----------------------------------------------------------------------------
    def settings_put(self, namespace: str, key: str, value: str | int) -> ShellResult:
        """``settings put NAMESPACE KEY VALUE`` (namespace ``system``, ``secure``, ``global``)."""
        return self.shell(["settings", "put", namespace, key, str(value)], check=True)

    def settings_get(self, namespace: str, key: str) -> str:
        return self.shell(["settings", "get", namespace, key], check=True).stdout.strip()

    def set_pin(self, pin: str, *, old: str | None = None) -> ShellResult:
        """``locksettings set-pin [--old OLD] PIN``. Does not raise on failure: the caller
        reads the result (and must not log the command, which holds the PIN)."""
        args = ["locksettings", "set-pin"]
        if old:
            args += ["--old", old]
        return self.shell(args + [pin])

    def verify_pin(self, pin: str) -> bool:
        """``locksettings verify --old PIN``: True when ``pin`` is the phone's lock PIN."""
        res = self.shell(["locksettings", "verify", "--old", pin])
        return res.ok and "verified successfully" in res.stdout.lower()

    def lock_disabled(self) -> bool | None:
        """``locksettings get-disabled``: True when the lock screen is disabled."""
        res = self.shell("locksettings get-disabled")
        if not res.ok:
            return None
        return res.stdout.strip() == "true"

    def grant(self, package: str, permission: str) -> ShellResult:
        """``pm grant PACKAGE PERMISSION`` (runtime permissions only)."""
        return self.shell(["pm", "grant", package, permission])

    def disable_package(self, package: str) -> ShellResult:
        """``pm disable-user --user 0 PACKAGE`` (e.g. the Play Store)."""
        return self.shell(["pm", "disable-user", "--user", "0", package])

    def install(self, path: str | Path, *, flags: tuple[str, ...] = ("-r",),
                progress: Callable[[int, int], None] | None = None,
                timeout: float = 900) -> ShellResult:
        """Stream ``path`` to the package manager (``exec:cmd package 'install' FLAGS -S SIZE``,
        what ``adb install`` does). Returns the package manager's answer with exit code 0 on
        ``Success`` and 1 otherwise (the output holds ``Failure [INSTALL_FAILED_...]``).
        ``progress(sent_bytes, total_bytes)`` is called after each 1 MiB chunk."""
        path = Path(path)
        size = path.stat().st_size
        cmd = "cmd package 'install' " + " ".join(flags) + f" -S {size}"
        try:
            conn = self.device.open_transport(timeout=timeout)
        except Exception as exc:
            if _is_connection_error(exc):
                raise self._gone(exc, "install") from exc
            raise
        try:
            conn.send_command("exec:" + cmd)
            conn.check_okay()
            sent = 0
            with open(path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    conn.conn.sendall(chunk)
                    sent += len(chunk)
                    if progress is not None:
                        progress(sent, size)
            output = conn.read_until_close()
        except Exception as exc:
            if _is_connection_error(exc):
                raise self._gone(exc, "install") from exc
            raise
        finally:
            conn.close()
        if not output.strip():
            # A cut stream closes with no answer: the phone did not install anything we know of.
            raise self._gone(EOFError("no answer from the package manager"), "install")
        ok = "Success" in output
        return ShellResult(cmd, 0 if ok else 1, output, "")

    def pm_path(self, package: str) -> str | None:
        """The installed base APK path from ``pm path`` (``package:/data/app/.../base.apk``)."""
        res = self.shell(["pm", "path", package])
        for line in res.stdout.splitlines():
            if line.startswith("package:"):
                return line[len("package:"):].strip()
        return None

    def pull(self, remote: str, local: str | Path) -> int:
        """Copy ``remote`` to ``local`` over the sync service; returns the byte count."""
        try:
            self.device.sync.pull(remote, str(local))
        except Exception as exc:
            if _is_connection_error(exc):
                raise self._gone(exc, "pull") from exc
            raise
        return os.path.getsize(local)


def wait_device(client, adb_serial: str, timeout: float) -> str | None:
    """Poll until ``adb_serial`` is listed as ``device`` or ``timeout`` seconds pass; returns
    the last state seen (None: absent)."""
    deadline = time.monotonic() + timeout
    state = None
    while True:
        state = next((d.state for d in list_devices(client) if d.adb_serial == adb_serial), None)
        if state == "device" or time.monotonic() >= deadline:
            return state
        time.sleep(0.2)
