"""Parsers for the shell output a health pull reads from a phone over ADB.

Each parser takes the text a command printed and returns plain values. A value that cannot be
read is ``None`` (unknown), never ``0``: an empty output, a "not found" answer or a line
missing on this Android version or vendor gives ``None`` for the fields it would have given.

Formats and their sources (fixtures and their origins: ``tests/reports/fixtures/SOURCES.md``):

- ``dumpsys battery``: AOSP ``BatteryService.dumpInternal``; integer ``status``/``health`` codes
  from ``BatteryManager`` (``BATTERY_STATUS_*``, ``BATTERY_HEALTH_*``); temperature in tenths of
  a degree Celsius; ``Dock powered`` from Android 13, ``Charging state``/``policy`` from 14;
  vendors add lines (Samsung ``mSecPlugTypeSummary``..., MIUI ``mHealthInfo``) which are ignored.
- ``/proc/meminfo``: Linux ``fs/proc/meminfo.c`` (``Name:  N kB``); ``MemAvailable`` from 3.14.
- ``df``: toybox ``df`` (Android 6+, ``-k`` default, ``1K-blocks``), busybox ``df`` (a long
  device name wraps onto its own line), and the old toolbox ``df`` of Android 4-5
  (``Filesystem Size Used Free Blksize`` with human sizes).
- ``getprop``: ``[key]: [value]`` lines.
- ``dumpsys package <pkg>``: PackageManagerService dump, ``versionCode=N minSdk=.. targetSdk=..``
  (``minSdk`` from Android 9), ``versionName=...``; an updated system app prints the package
  twice (the second under ``Hidden system packages:``): the first one is the running one.
- ``pm list packages --show-versioncode``: ``package:NAME versionCode:N``.
- ``dumpsys meminfo <pkg>``: ``TOTAL PSS:`` (App Summary, Android 10+), ``TOTAL:`` (App Summary
  of Android 6-9), else the ``TOTAL`` row of the table (Android 4-5, first column is PSS).
- ``uptime`` (toybox) / ``/proc/uptime``.
- ``locksettings get-disabled`` (``true``/``false``) and ``locksettings verify`` without
  ``--old`` (fails with "didn't match" exactly when a credential is set).
- ``service call iphonesubinfo N``: libbinder ``Parcel`` text dump; reply = int32 exception code
  then ``String16`` (int32 length in UTF-16 units, -1 for null, then UTF-16LE characters).
"""

from __future__ import annotations

import re

#: ``BatteryManager.BATTERY_STATUS_*`` codes.
BATTERY_STATUS = {1: "unknown", 2: "charging", 3: "discharging", 4: "not_charging", 5: "full"}
#: ``BatteryManager.BATTERY_HEALTH_*`` codes.
BATTERY_HEALTH = {1: "unknown", 2: "good", 3: "overheat", 4: "dead", 5: "over_voltage",
                  6: "unspecified_failure", 7: "cold"}
_POWERED = ("AC powered", "USB powered", "Wireless powered", "Dock powered")
_KV = re.compile(r"^\s*([A-Za-z][A-Za-z ()/_-]*?):\s*(.*?)\s*$")


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    m = re.fullmatch(r"\s*(-?\d+)\s*", text)
    return int(m.group(1)) if m else None


def parse_battery(text: str | None) -> dict:
    """``dumpsys battery`` -> ``{battery_level (%), battery_health, battery_temperature_c,
    battery_status, battery_charging}``; each None when absent or unreadable.

    ``battery_level`` is ``level * 100 / scale`` (scale is 100 on every phone seen, but some
    tablets report another). ``battery_charging`` is True when any charger is online (AC, USB,
    wireless, dock), False when all printed ones are false, None when none is printed.
    Only the first block (``Current Battery Service state:``) is read: the event log some
    vendors append below repeats keys such as ``level``.
    """
    values: dict[str, str] = {}
    started = False
    for line in (text or "").splitlines():
        if "Battery Service state" in line:
            if started:
                break
            started = True
            continue
        if line.strip().startswith("[") or (started and line and not line.startswith(" ")):
            break
        m = _KV.match(line)
        if m and m.group(1) not in values:
            values[m.group(1)] = m.group(2)
    level, scale = _int(values.get("level")), _int(values.get("scale"))
    if level is not None and scale and scale != 100:
        level = round(level * 100 / scale)
    if level is not None and not 0 <= level <= 100:
        level = None
    tenths = _int(values.get("temperature"))
    status_code, health_code = _int(values.get("status")), _int(values.get("health"))
    powered = [values[k].lower() == "true" for k in _POWERED if k in values]
    return {
        "battery_level": level,
        "battery_health": BATTERY_HEALTH.get(health_code) if health_code is not None else None,
        "battery_temperature_c": None if tenths is None else tenths / 10,
        "battery_status": BATTERY_STATUS.get(status_code) if status_code is not None else None,
        "battery_charging": any(powered) if powered else None,
    }


def parse_meminfo(text: str | None) -> dict:
    """``/proc/meminfo`` -> ``{ram_total_mb, ram_available_mb}`` (MiB, from kB / 1024, rounded
    down). ``MemAvailable`` is missing before Linux 3.14: then ``ram_available_mb`` is None."""
    fields: dict[str, int] = {}
    for line in (text or "").splitlines():
        m = re.match(r"^(\w[\w()]*):\s+(\d+)\s*kB\s*$", line.strip())
        if m:
            fields[m.group(1)] = int(m.group(2))
    total, avail = fields.get("MemTotal"), fields.get("MemAvailable")
    return {
        "ram_total_mb": None if not total else total // 1024,
        "ram_available_mb": None if avail is None else avail // 1024,
    }


_UNITS = {"": 1 / 1024, "B": 1 / 1024, "K": 1, "M": 1024, "G": 1024**2, "T": 1024**3}


def _size_kb(token: str) -> float | None:
    """``12345`` (1K blocks), ``12.5G``, ``800M``, ``512K`` -> kB; None if not a size."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([BKMGT]?)", token)
    if not m:
        return None
    if not m.group(2):
        return float(m.group(1))
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_df(text: str | None, mount: str = "/data") -> dict:
    """``df /data`` / ``df -k /data`` / ``df -h /data`` / old toolbox ``df`` -> ``{storage_total_mb,
    storage_free_mb}`` for the filesystem mounted on ``mount`` (MiB, rounded down).

    Handles toybox and busybox (``Filesystem 1K-blocks Used Available Use% Mounted on``; busybox
    wraps a long device name onto its own line), ``-h`` human sizes, and toolbox
    (``Filesystem Size Used Free Blksize``, the mount point first). A ``df: /data: Permission
    denied`` line or no ``/data`` row gives None for both."""
    lines = [ln for ln in (text or "").splitlines() if ln.strip()]
    if not lines:
        return {"storage_total_mb": None, "storage_free_mb": None}
    header = lines[0].split()
    rows: list[list[str]] = []
    pending: list[str] = []
    for line in lines[1:]:
        parts = line.split()
        if len(parts) == 1 and header and header[0] == "Filesystem":  # busybox wrap
            pending = parts
            continue
        rows.append(pending + parts)
        pending = []
    total = free = None
    if header[:2] == ["Filesystem", "Size"] and "Free" in header and "Mounted" not in header:
        # toolbox: /data 12.5G 3.2G 9.3G 4096
        for parts in rows:
            if parts[0] == mount and len(parts) >= 4:
                total, free = _size_kb(parts[1]), _size_kb(parts[3])
                break
    else:
        for parts in rows:
            if len(parts) >= 6 and parts[-1] == mount:
                total, free = _size_kb(parts[-5]), _size_kb(parts[-3])
                break
    return {
        "storage_total_mb": None if total is None else int(total // 1024),
        "storage_free_mb": None if free is None else int(free // 1024),
    }


_PROP = re.compile(r"^\[([^\]]+)\]: \[(.*)\]\s*$")
_PROP_OPEN = re.compile(r"^\[([^\]]+)\]: \[(.*)$")
_PROP_MAX_LINES = 64


def parse_getprop(text: str | None) -> dict[str, str]:
    """Full ``getprop`` dump -> ``{key: value}`` (both ``str``; an empty ``[]`` gives ``""``).

    A value holding newlines is printed over several lines, the closing ``]`` on the last one
    (``persist.sys.boot.reason.history`` on real phones: one ``reason,time`` per line); it is
    returned joined with ``\\n``. A value left open (cut dump, or more than 64 lines) is
    dropped rather than guessed. Lines that are not properties (shell prompt, echo) are
    ignored."""
    props: dict[str, str] = {}
    key: str | None = None
    pending: list[str] = []
    for line in (text or "").splitlines():
        m = _PROP.match(line)
        if key is not None and not m:
            pending.append(line)
            if line.rstrip().endswith("]"):
                props[key] = "\n".join(pending).rstrip()[:-1]
                key = None
            elif len(pending) > _PROP_MAX_LINES:
                key = None
            continue
        key = None
        if m:
            props[m.group(1)] = m.group(2)
        elif opened := _PROP_OPEN.match(line):
            key, pending = opened.group(1), [opened.group(2)]
    return props


def _first(props: dict[str, str], *keys: str) -> str | None:
    for key in keys:
        value = props.get(key, "").strip()
        if value:
            return value
    return None


def device_facts(props: dict[str, str]) -> dict:
    """System properties -> ``{android_version, api_level, security_patch, crypto_state,
    manufacturer, model, serial}``.

    Falls back across the partition families Android 10+ adds (``ro.system.build.*``,
    ``ro.product.build.*``, ``ro.vendor.build.security_patch``) because some vendor builds (the
    Xiaomi 12X dump in the fixtures) omit the plain ``ro.build.version.sdk`` line in excerpts;
    the maker and model fall back to ``ro.product.vendor.*`` (Android 9+) and to Android 8.x's
    ``ro.vendor.product.*`` (the OPPO A5s dump). ``ro.vendor.build.version.*`` is never read:
    the vendor image is often older than the system (Motorola edge 20: 11 under 13).
    ``crypto_state`` is ``ro.crypto.state``: ``encrypted``, ``unencrypted`` or ``unsupported``.
    """
    api = _first(props, "ro.build.version.sdk", "ro.system.build.version.sdk",
                 "ro.product.build.version.sdk")
    return {
        "android_version": _first(props, "ro.build.version.release",
                                  "ro.system.build.version.release",
                                  "ro.product.build.version.release"),
        "api_level": _int(api),
        "security_patch": _first(props, "ro.build.version.security_patch",
                                 "ro.vendor.build.security_patch"),
        "crypto_state": _first(props, "ro.crypto.state"),
        "manufacturer": _first(props, "ro.product.manufacturer",
                               "ro.product.vendor.manufacturer",
                               "ro.vendor.product.manufacturer"),
        "model": _first(props, "ro.product.model", "ro.product.vendor.model",
                        "ro.vendor.product.model"),
        "serial": _first(props, "ro.serialno", "ro.boot.serialno"),
    }


def parse_dumpsys_package(text: str | None) -> dict:
    """``dumpsys package <pkg>`` -> ``{version_code, version_name, min_sdk}`` of the first
    package block (the installed one; a hidden system copy comes after). All None when the
    package is not installed (``Unable to find package``)."""
    code = name = min_sdk = None
    for line in (text or "").splitlines():
        s = line.strip()
        if s.startswith("Hidden system packages"):
            break
        if code is None:
            m = re.match(r"versionCode=(\d+)(?:.*?minSdk=(\d+))?", s)
            if m:
                code = int(m.group(1))
                min_sdk = int(m.group(2)) if m.group(2) else None
                continue
        if name is None and s.startswith("versionName="):
            name = s[len("versionName="):] or None
    return {"version_code": code, "version_name": name, "min_sdk": min_sdk}


def parse_pm_list_versions(text: str | None) -> dict[str, int | None]:
    """``pm list packages --show-versioncode`` -> ``{package: versionCode}``; a line without
    ``versionCode:`` (Android before 9 ignores the flag) maps to None."""
    out: dict[str, int | None] = {}
    for line in (text or "").splitlines():
        m = re.match(r"^package:(?:\S+=)?([\w.]+)(?:\s+versionCode:(\d+))?", line.strip())
        if m:
            out[m.group(1)] = int(m.group(2)) if m.group(2) else None
    return out


def parse_app_pss_kb(text: str | None) -> int | None:
    """``dumpsys meminfo <pkg>`` -> the process's total PSS in kB, or None when the app is not
    running (``No process found for: ...``) or the output is not a meminfo dump.

    Reads, in order: ``TOTAL PSS: N`` (App Summary, Android 10+), ``TOTAL: N`` in the App
    Summary (Android 6-9, followed by ``TOTAL SWAP PSS``), then the ``TOTAL`` row of the
    table (Android 4-5; its first number is the PSS total)."""
    text = text or ""
    m = re.search(r"TOTAL PSS:\s+(\d+)", text)
    if m:
        return int(m.group(1))
    m = re.search(r"^\s*TOTAL:\s+(\d+)", text, re.M)
    if m:
        return int(m.group(1))
    m = re.search(r"^\s*TOTAL\s+(\d+)\s", text, re.M)
    if m and ("MEMINFO in pid" in text or "Applications Memory Usage" in text):
        return int(m.group(1))
    return None


def parse_uptime_s(text: str | None) -> int | None:
    """``cat /proc/uptime`` (``12345.67 98765.43``) or toybox/busybox ``uptime``
    (`` 10:11:12 up 2 days,  3:04,  0 users, ...`` / ``up 12 min`` / ``up 1 day, 45 min``)
    -> whole seconds since boot."""
    text = (text or "").strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s+\d+(?:\.\d+)?", text)
    if m:
        return int(float(m.group(1)))
    m = re.search(r"\bup\s+(.*?),\s+\d+\s+users?", text) or re.search(r"\bup\s+(.*?),\s+load",
                                                                       text)
    if not m:
        return None
    seconds = 0
    found = False
    for part in m.group(1).split(","):
        part = part.strip()
        if d := re.fullmatch(r"(\d+)\s+days?", part):
            seconds += int(d.group(1)) * 86400
        elif hm := re.fullmatch(r"(\d+):(\d{2})", part):
            seconds += int(hm.group(1)) * 3600 + int(hm.group(2)) * 60
        elif mi := re.fullmatch(r"(\d+)\s+min", part):
            seconds += int(mi.group(1)) * 60
        else:
            continue
        found = True
    return seconds if found else None


def parse_lock_disabled(text: str | None) -> bool | None:
    """``locksettings get-disabled`` -> True (the lock screen is disabled), False, or None."""
    value = (text or "").strip().lower()
    return {"true": True, "false": False}.get(value)


def parse_lock_verify(text: str | None) -> bool | None:
    """``locksettings verify`` with no ``--old`` -> whether a credential (PIN, pattern,
    password) is set: LockSettingsShellCommand answers "didn't match" when one is, "verified
    successfully" when none is. None for anything else (old Android without the command)."""
    text = text or ""
    if "didn't match" in text or "didn’t match" in text:
        return True
    if "verified successfully" in text:
        return False
    return None


def screen_lock_set(verify_text: str | None, disabled_text: str | None) -> bool | None:
    """Combine ``locksettings verify`` and ``get-disabled``: a disabled lock screen is no lock
    even with a stored credential."""
    if parse_lock_disabled(disabled_text):
        return False
    return parse_lock_verify(verify_text)


_PARCEL_WORD = re.compile(r"\b([0-9a-f]{8})\b")


def parse_parcel_string(text: str | None) -> str | None:
    """``service call iphonesubinfo N`` Parcel dump -> the ``String16`` it returns, or None for
    a null string, an exception reply (first word non-zero, e.g. a SecurityException when the
    shell lacks READ_PRIVILEGED_PHONE_STATE on Android 10+), or unreadable output.

    Only the hex words are read (the ASCII column can hold hex-looking text)."""
    text = text or ""
    if "Parcel(" not in text:
        return None
    body = text[text.index("Parcel(") + len("Parcel("):]
    words = []
    for line in body.splitlines():
        line = re.sub(r"^\s*0x[0-9a-f]+:\s*", "", line)
        line = line.split("'", 1)[0]
        words += _PARCEL_WORD.findall(line)
    if len(words) < 2 or int(words[0], 16) != 0:
        return None
    length = int(words[1], 16)
    if length == 0xFFFFFFFF or length > 4096:
        return None
    raw = b"".join(int(w, 16).to_bytes(4, "little") for w in words[2:])
    value = raw[: length * 2].decode("utf-16-le", "replace")
    return value if len(value) == length else None


def clean_imei(value: str | None) -> str | None:
    """A 15-digit Luhn-valid IMEI or None (python-stdnum ``imei``)."""
    from stdnum import imei

    if not value or not value.isdigit():
        return None
    return value if len(value) == 15 and imei.is_valid(value) else None


def clean_iccid(value: str | None) -> str | None:
    """A 19-20 digit ICCID starting 89 with a valid Luhn digit, else None."""
    from stdnum import luhn

    if not value:
        return None
    value = value.strip().upper().rstrip("F")  # some SIMs pad with F
    if not value.isdigit() or not 19 <= len(value) <= 20 or not value.startswith("89"):
        return None
    return value if luhn.is_valid(value) else None
