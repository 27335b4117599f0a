"""One simulated phone: its state (properties, files, packages, settings, lock screen) and its
life on the "USB bus" (a loopback TCP port that adb connects to): plug, unplug, reboot, faults.
The ADB transport itself is in :mod:`.transport`."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from pathlib import Path

from .fs import PhoneFS
from .outputs import build_props, meminfo_values, render_meminfo
from .packages import (
    InstalledPackage,
    InstallError,
    PackageManager,
    failure_line,
    from_profile,
    parse_apk,
)
from .profile import Battery, Package, PhoneProfile
from .shell import Shell

log = logging.getLogger(__name__)

#: System packages every simulated phone has (AOSP/GMS package names).
SYSTEM_PACKAGES = (
    Package("android", 34, "14", system=True),
    Package("com.android.settings", 34, "14", system=True),
    Package("com.android.shell", 34, "14", system=True),
    Package("com.android.phone", 34, "14", system=True),
    Package("com.android.vending", 83611510, "36.1.15-21", system=True),
    Package("com.google.android.gms", 234414022, "23.44.14", system=True),
    Package("com.android.chrome", 604510033, "119.0.6045.163", system=True),
)


def default_settings(profile: PhoneProfile) -> dict[str, dict[str, str]]:
    """Settings as a freshly set-up phone has them (AOSP defaults; Samsung: 30 s timeout)."""
    timeout = "30000" if profile.manufacturer == "samsung" else "60000"
    return {
        "system": {
            "screen_off_timeout": timeout,
            "screen_brightness": "102",
            "font_scale": "1.0",
            "time_12_24": "24",
        },
        "secure": {
            "android_id": format(abs(hash(profile.serial)) % (1 << 64), "016x"),
            "location_mode": "0",
            "install_non_market_apps": "1",
            "default_input_method": "com.android.inputmethod.latin/.LatinIME",
        },
        "global": {
            "adb_enabled": "1",
            "airplane_mode_on": "0",
            "auto_time": "1",
            "auto_time_zone": "1",
            "development_settings_enabled": "1",
            "device_provisioned": "1",
            "package_verifier_enable": "1",
            "stay_on_while_plugged_in": "0",
            "wifi_on": "1",
        },
    }


class SimPhone:
    """A simulated phone. All methods run on the simulator's event loop unless stated."""

    #: Seconds a phone takes to come back after ``reboot``.
    reboot_seconds = 2.0

    def __init__(self, profile: PhoneProfile, workdir: Path, *, port: int = 0,
                 host: str = "127.0.0.1"):  # fmt: skip
        self.profile = profile
        self.host = host
        self.port = port
        self.workdir = Path(workdir) / profile.serial
        self.fs = PhoneFS(self.workdir / "fs")
        self.props = build_props(profile)
        api = profile.api_level
        pkgs = [from_profile(p, api) for p in (*SYSTEM_PACKAGES, *profile.packages)]
        self.pm = PackageManager(api, pkgs, build_debuggable=profile.rooted)
        self._base_pm_bytes = self.pm.used_bytes()
        self.settings = default_settings(profile)
        self.lock_pin: str | None = profile.screen_lock_pin
        self.lock_disabled = False
        self.disabled_packages: set[str] = set()
        self.boot_time = time.time() - profile.uptime_s
        self.shell = Shell(self)
        self.plugged = False
        self.server: asyncio.base_events.Server | None = None
        self.connections: set = set()
        self.received_bytes = 0
        self.trusted_keys: list = []
        self.events: list[str] = []
        self.services: list[str] = []  # every service the host opened, in order
        self.link = None  # set by the Simulator: tells the adb server about (un)plugging
        self._tasks: set[asyncio.Task] = set()
        self._uids: dict[str, int] = {}
        if profile.faults.low_battery:
            profile.battery = Battery(
                level=4, health=profile.battery.health, temperature_c=profile.battery.temperature_c,
                status="discharging", plugged="none", voltage_mv=3450,
            )  # fmt: skip

    # -- identity ---------------------------------------------------------------------------
    @property
    def serial(self) -> str:
        """``ro.serialno`` of the phone (adb lists it as ``127.0.0.1:PORT``)."""
        return self.profile.serial

    @property
    def adb_serial(self) -> str:
        """The serial the adb server uses for this phone: ``HOST:PORT``."""
        return f"{self.host}:{self.port}"

    @property
    def faults(self):
        return self.profile.faults

    def uid(self, pkg: InstalledPackage) -> int:
        return self._uids.setdefault(pkg.name, 10100 + len(self._uids))

    def uptime_s(self) -> float:
        return time.time() - self.boot_time

    def banner_props(self) -> dict[str, str]:
        return self.props

    def features(self) -> list[str]:
        """Features adbd of this Android version announces (adb's transport.cpp list)."""
        feats = ["shell_v2", "cmd", "stat_v2", "ls_v2", "fixed_push_mkdir", "apex"]
        if self.profile.api_level >= 28:
            feats += ["fixed_push_symlink_timestamp", "abb", "abb_exec"]
        if self.profile.api_level >= 30:
            feats += ["remount_shell", "track_app"]
        return feats

    # -- storage ----------------------------------------------------------------------------
    def free_kb(self) -> int:
        """Free space on /data in KiB, after pushed files and installed APKs."""
        base = 64 * 1024 if self.faults.low_storage else self.profile.storage_free_mb * 1024
        used = self.fs.used_bytes() + self.pm.used_bytes() - self._base_pm_bytes
        return max(0, base - used // 1024)

    def read_text(self, path: str) -> str | None:
        """Contents of a file for ``cat`` (virtual /proc files or pushed files)."""
        path = self.fs.norm(path)
        if path == "/proc/meminfo":
            return render_meminfo(self.profile)
        if path == "/proc/uptime":
            up = self.uptime_s()
            return f"{up:.2f} {up * 3.1:.2f}\n"
        if path == "/proc/version":
            return "Linux version 4.19.191 (build@android) #1 SMP PREEMPT\n"
        f = self.fs.get(path)
        if f is None:
            return None
        return f.disk.read_bytes().decode("utf-8", "replace")

    def memory(self) -> dict[str, int]:
        return meminfo_values(self.profile)

    # -- package manager --------------------------------------------------------------------
    def install_file(self, disk: Path, flags: list[str], *, keep_file: bool) -> str:
        """Install the APK at host path ``disk``; returns ``Success`` or a ``Failure [...]`` line.

        ``keep_file=False`` copies the APK (``pm install`` of a pushed file leaves it in place);
        ``True`` moves it (streamed install).
        """
        try:
            info = parse_apk(disk)
        except InstallError as exc:
            return self._failed(exc)
        return self.install_parsed(info, disk, flags, keep_file=keep_file)

    async def install_file_async(self, disk: Path, flags: list[str], *, keep_file: bool) -> str:
        """:meth:`install_file` with the APK parsed in a worker thread, so one phone's parse
        (0.1 s for 50 MB) does not stall every other phone on the event loop."""
        try:
            info = await asyncio.to_thread(parse_apk, disk)
        except InstallError as exc:
            return self._failed(exc)
        return self.install_parsed(info, disk, flags, keep_file=keep_file)

    def _failed(self, exc: InstallError) -> str:
        self.events.append(f"install-failed {exc.code}")
        return failure_line(exc, self.profile.api_level)

    def install_parsed(self, info, disk: Path, flags: list[str], *, keep_file: bool) -> str:
        """Apply the install rules to a parsed APK and record it (see :meth:`install_file`)."""
        api = self.profile.api_level
        size = disk.stat().st_size
        try:
            self.pm.check_install(
                info,
                size=size,
                free_bytes=self.free_kb() * 1024,
                replace="-R" not in flags and ("-r" in flags or api >= 24),
                downgrade="-d" in flags,
            )
        except InstallError as exc:
            return self._failed(exc)
        old = self.pm.packages.get(info.package)
        pkg = self.pm.install(info, size=size, apk_file=None)
        if old is not None:
            self.release_package_files(old)
        target = self.fs.new_disk_file()
        if keep_file:
            shutil.move(disk, target)
        else:
            try:
                os.link(disk, target)
            except OSError:
                shutil.copyfile(disk, target)
        pkg.apk_file = target
        self.fs.add_file(pkg.code_path + "/base.apk", target, mode=0o100644)
        if "-g" in flags:
            pkg.granted = set(pkg.permissions)
        self.events.append(f"installed {info.package} {info.version_code}")
        return "Success"

    def release_package_files(self, pkg: InstalledPackage) -> None:
        """Delete an uninstalled/replaced package's APK from the phone."""
        self.fs.remove(pkg.code_path)

    # -- USB life ---------------------------------------------------------------------------
    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def plug(self) -> None:
        """Start listening (the phone appears on the bus). Idempotent."""
        from .transport import Connection

        if self.plugged:
            return

        async def on_client(reader, writer):
            conn = Connection(self, reader, writer)
            self.connections.add(conn)
            try:
                await conn.run()
            finally:
                self.connections.discard(conn)

        self.server = await asyncio.start_server(on_client, self.host, self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        self.plugged = True
        self.received_bytes = 0
        self.events.append("plugged")
        log.info("devsim phone %s plugged on %s", self.serial, self.adb_serial)

    async def unplug(self, reason: str = "control", *, notify: bool = True) -> None:
        """Close every connection and stop listening (reconnects are refused)."""
        if not self.plugged:
            return
        self.plugged = False
        self.events.append(f"unplugged ({reason})")
        log.info("devsim phone %s unplugged: %s", self.serial, reason)
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in list(self.connections):
            conn.abort()
        if notify and self.link is not None:
            await self.link.disconnect(self.adb_serial)

    async def replug(self) -> None:
        """Plug back in and let the adb server know (``adb connect``)."""
        await self.plug()
        if self.link is not None:
            await self.link.connect(self.adb_serial)

    def trigger_unplug(self, reason: str) -> None:
        """Unplug from inside a service or transport callback: the connections drop at once
        (the calling service task is cancelled); the rest runs as a separate task."""
        if self.plugged:
            for conn in list(self.connections):
                conn.abort()
            self._spawn(self.unplug(reason))

    def schedule_reboot(self) -> None:
        """Reboot: drop off the bus, come back ``reboot_seconds`` later with uptime reset."""
        self._spawn(self._reboot())

    async def _reboot(self) -> None:
        await asyncio.sleep(0.05)
        await self.unplug("reboot")
        await asyncio.sleep(self.reboot_seconds)
        self.boot_time = time.time()
        await self.replug()

    async def set_offline(self, offline: bool) -> None:
        """Go offline (answer no CNXN; adb shows ``offline``) or come back online."""
        self.faults.offline = offline
        if offline:
            for conn in list(self.connections):
                conn.abort()
        else:
            for conn in list(self.connections):
                conn.resume_handshake()

    async def authorize(self) -> bool:
        """The user taps "Allow" on the RSA prompt: trust the key the host offered.

        Returns True if a waiting connection was authorized."""
        self.faults.unauthorized = False
        done = False
        for conn in list(self.connections):
            done = conn.accept_offered_key() or done
        return done

    def step_fault(self, step: str) -> bool:
        """True if the ``unplug_during`` fault names ``step``."""
        return bool(self.plugged and self.faults.unplug_during == step)
