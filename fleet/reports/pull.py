"""Health pulls over ADB: run the health commands on each connected phone, parse them, keep the
raw output, and hand the report to :func:`fleet.reports.operations.record_report`.

Phones are reached through :mod:`fleet.provisioning.adb` (``Phone`` over an
``adbutils.AdbClient``) and stations through :mod:`fleet.provisioning.stations`
(``open_station``: a local adb server or one reached over SSH).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from fleet.errors import FleetError
from fleet.reports import parsers
from fleet.reports.models import CAPTURE_PACKAGE
from fleet.timeutil import utcnow

log = logging.getLogger(__name__)

#: Commands a pull runs, by the key their raw output is stored under. ``{pkg}`` is expanded per
#: tracked package. ``service call iphonesubinfo 1`` is ``getDeviceId`` (IMEI); the ICCID
#: (``getIccSerialNumber``) is transaction 12 on Android 10+ and 11 before (AIDL stubs, see
#: fleet/provisioning/devsim/transcripts/SOURCES.md).
COMMANDS = {
    "getprop": "getprop",
    "battery": "dumpsys battery",
    "meminfo": "cat /proc/meminfo",
    "df": "df -k /data",
    "uptime": "cat /proc/uptime",
    "lock_disabled": "locksettings get-disabled",
    "lock_verify": "locksettings verify",
    "packages": "pm list packages --show-versioncode",
    "imei": "service call iphonesubinfo 1",
}


@dataclass
class PullOutcome:
    """What a pull of one station found: reports stored, and phones skipped with the reason."""

    station: str
    stored: list[str] = field(default_factory=list)  # asset tags
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (adb serial, reason)

    def summary(self) -> str:
        return (f"station {self.station}: {len(self.stored)} report(s) stored, "
                f"{len(self.skipped)} phone(s) skipped")


def collect(phone, tracked_packages: Iterable[str] = (CAPTURE_PACKAGE,)) -> tuple[dict, dict]:
    """Run the health commands on ``phone`` (a :class:`fleet.provisioning.adb.Phone`, or any
    object with ``shell(cmd) -> result`` whose result has ``stdout``) and parse them.

    Returns ``(data, raw)``: ``data`` holds the report fields (None where unreadable), ``raw``
    maps each command to its output. Raises ``PhoneGone``/``AdbUnavailable`` from the adapter
    when the phone or server goes away mid-pull (nothing is stored then)."""
    raw: dict[str, str] = {}

    def run(key: str, command: str) -> str:
        res = phone.shell(command)
        out = res.stdout if not getattr(res, "stderr", "") else res.stdout + res.stderr
        raw[key] = out
        return out

    for key, command in COMMANDS.items():
        run(key, command)
    props = parsers.parse_getprop(raw["getprop"])
    facts = parsers.device_facts(props)
    api = facts["api_level"]
    run("iccid", f"service call iphonesubinfo {12 if api is None or api >= 29 else 11}")
    listed = parsers.parse_pm_list_versions(raw["packages"])
    packages = {}
    for pkg in tracked_packages:
        if pkg not in listed:
            packages[pkg] = {"version_code": None, "version_name": None, "installed": False}
            continue
        info = parsers.parse_dumpsys_package(run(f"package:{pkg}", f"dumpsys package {pkg}"))
        code = info["version_code"] if info["version_code"] is not None else listed[pkg]
        packages[pkg] = {"version_code": code, "version_name": info["version_name"],
                         "installed": True}
    pss_kb = None
    if packages.get(CAPTURE_PACKAGE, {}).get("installed"):
        pss_kb = parsers.parse_app_pss_kb(run("app_meminfo",
                                              f"dumpsys meminfo {CAPTURE_PACKAGE}"))
    data = {
        **parsers.parse_battery(raw["battery"]),
        **parsers.parse_meminfo(raw["meminfo"]),
        **parsers.parse_df(raw["df"]),
        "android_version": facts["android_version"],
        "api_level": api,
        "security_patch": facts["security_patch"],
        "crypto_state": facts["crypto_state"],
        "uptime_s": parsers.parse_uptime_s(raw["uptime"]),
        "screen_lock_set": parsers.screen_lock_set(raw["lock_verify"], raw["lock_disabled"]),
        "packages": packages,
        "app_pss_mb": None if pss_kb is None else round(pss_kb / 1024, 1),
        "imei": parsers.clean_imei(parsers.parse_parcel_string(raw["imei"])),
        "iccid": parsers.clean_iccid(parsers.parse_parcel_string(raw["iccid"])),
        "serial": facts["serial"],
        "collected_at": utcnow(),
        "report_id": f"pull-{uuid.uuid4().hex}",
    }
    return data, raw


def pull_client(client, *, station: str, serials: Iterable[str] | None = None,
                tracked_packages: Iterable[str] = (CAPTURE_PACKAGE,), store,
                workers: int = 8) -> PullOutcome:
    """Pull every phone in state ``device`` on ``client`` (an ``adbutils.AdbClient``), or only
    those whose adb serial or own serial is in ``serials``; ``store(data, raw) -> asset tag``
    records one report (raises ``fleet.errors.FleetError`` to skip, e.g. a phone not in the
    inventory). Phones that go away mid-pull are skipped with the reason.

    The ADB commands of up to ``workers`` phones run at once (threads; each command is its own
    adb stream); ``store`` runs in the calling thread, one phone at a time, so the database
    session is never shared between threads. Raises AdbUnavailable when the adb server does
    not answer at all."""
    from concurrent.futures import ThreadPoolExecutor

    from fleet.provisioning.adb import AdbError, Phone, list_devices

    wanted = set(serials or ())
    packages = tuple(tracked_packages)
    outcome = PullOutcome(station)
    ready = []
    for entry in list_devices(client):
        if entry.state != "device":
            if not wanted or entry.adb_serial in wanted:
                outcome.skipped.append((entry.adb_serial, f"state {entry.state}"))
            continue
        ready.append(entry)

    def one(entry):
        try:
            return entry, collect(Phone(client, entry.adb_serial), packages), None
        except AdbError as exc:
            return entry, None, exc

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for entry, collected, error in pool.map(one, ready):
            if error is not None:
                outcome.skipped.append((entry.adb_serial, str(error)))
                continue
            data, raw = collected
            if wanted and entry.adb_serial not in wanted and data.get("serial") not in wanted:
                continue
            data["station"] = station
            try:
                outcome.stored.append(store(data, raw))
            except FleetError as exc:  # one phone not in the inventory must not stop the rest
                outcome.skipped.append((entry.adb_serial, str(exc.message)))
    log.info("%s", outcome.summary())
    return outcome
