"""Command output in the formats real phones print, per Android version and vendor.

Each renderer copies the layout of a transcript in ``transcripts/`` (sources in
``transcripts/SOURCES.md``): ``getprop`` (``[key]: [value]`` sorted), ``dumpsys battery``
(BatteryService.dumpInternal: extra "Dock powered" from Android 13, "Charging state/policy"
from 14), ``/proc/meminfo`` (Linux ``meminfo_proc_show``: 3.18 fields on
Android 8, 4.14/5.x fields later), toybox ``df``, ``pm list packages``, ``dumpsys package``,
``dumpsys meminfo <pkg>``, ``uptime`` and the libbinder ``Parcel`` text dump of
``service call``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import time

from .profile import BATTERY_HEALTH, BATTERY_STATUS, PhoneProfile

KB = 1024


def fingerprint(p: PhoneProfile) -> str:
    """``ro.build.fingerprint``: brand/product/device:release/id/incremental:user/release-keys."""
    return (
        f"{p.brand}/{p.product}/{p.device}:{p.android_version}/{p.build_id}/"
        f"{p.incremental}:user/release-keys"
    )


def build_props(p: PhoneProfile) -> dict[str, str]:
    """The system properties a phone of this profile reports (a realistic subset)."""
    props = {
        "dalvik.vm.heapgrowthlimit": "256m" if p.ram_mb > 2048 else "128m",
        "dalvik.vm.heapsize": "512m",
        "dalvik.vm.isa.arm64.variant": "cortex-a53",
        "gsm.sim.state": "READY" if p.iccid else "ABSENT",
        "gsm.version.baseband": f"{p.incremental}",
        "init.svc.adbd": "running",
        "persist.sys.timezone": "Africa/Nairobi",
        "persist.sys.usb.config": "mtp,adb",
        "ro.adb.secure": "1",
        "ro.board.platform": {"samsung": "exynos850", "Xiaomi": "mt6768"}.get(
            p.manufacturer, "gs101"
        ),
        "ro.boot.serialno": p.serial,
        "ro.boot.verifiedbootstate": "orange" if p.rooted else "green",
        "ro.boot.flash.locked": "0" if p.rooted else "1",
        "ro.bootimage.build.fingerprint": fingerprint(p),
        "ro.build.characteristics": "phone",
        "ro.build.date.utc": "1627900000",
        "ro.build.description": f"{p.product}-user {p.android_version} {p.build_id} "
        f"{p.incremental} release-keys",
        "ro.build.display.id": f"{p.build_id}.{p.incremental}",
        "ro.build.fingerprint": fingerprint(p),
        "ro.build.id": p.build_id,
        "ro.build.tags": "release-keys",
        "ro.build.type": "user",
        "ro.build.user": "dpi",
        "ro.build.version.codename": "REL",
        "ro.build.version.incremental": p.incremental,
        "ro.build.version.release": p.android_version,
        "ro.build.version.sdk": str(p.api_level),
        "ro.build.version.security_patch": p.security_patch,
        "ro.crypto.state": p.crypto_state,
        "ro.debuggable": "0",
        "ro.hardware": {"samsung": "exynos850", "Xiaomi": "mt6768"}.get(p.manufacturer, "gs101"),
        "ro.product.board": p.device,
        "ro.product.brand": p.brand,
        "ro.product.cpu.abi": "arm64-v8a" if p.ram_mb > 1024 else "armeabi-v7a",
        "ro.product.cpu.abilist": "arm64-v8a,armeabi-v7a,armeabi"
        if p.ram_mb > 1024
        else "armeabi-v7a,armeabi",
        "ro.product.device": p.device,
        "ro.product.first_api_level": str(p.api_level),
        "ro.product.locale": "en-GB",
        "ro.product.manufacturer": p.manufacturer,
        "ro.product.model": p.model,
        "ro.product.name": p.product,
        "ro.secure": "1",
        "ro.serialno": p.serial,
        "ro.sf.lcd_density": "320",
        "ro.treble.enabled": "true",
        "ro.vndk.version": str(p.api_level),
        "service.bootanim.exit": "1",
        "sys.boot_completed": "1",
        "sys.usb.config": "mtp,adb",
        "sys.usb.state": "mtp,adb",
    }
    if p.crypto_state == "encrypted":
        props["ro.crypto.type"] = p.crypto_type
        if p.crypto_type == "file":
            props["ro.crypto.volume.filenames_mode"] = "aes-256-cts"
    if p.iccid:
        props["gsm.operator.alpha"] = "Safaricom"
        props["gsm.sim.operator.alpha"] = "Safaricom"
        props["gsm.sim.operator.iso-country"] = "ke"
        props["gsm.sim.operator.numeric"] = "63902"
    if p.api_level >= 29:
        for part in ("odm", "product", "system", "vendor"):
            props[f"ro.product.{part}.brand"] = p.brand
            props[f"ro.product.{part}.device"] = p.device
            props[f"ro.product.{part}.manufacturer"] = p.manufacturer
            props[f"ro.product.{part}.model"] = p.model
            props[f"ro.product.{part}.name"] = p.product
        props["ro.system.build.version.sdk"] = str(p.api_level)
    if p.api_level >= 31:
        for key in ("brand", "device", "manufacturer", "model", "name"):
            props[f"ro.product.system_ext.{key}"] = props[f"ro.product.{key}"]
        props["ro.build.version.release_or_codename"] = p.android_version
    if p.manufacturer == "samsung":
        props["ro.boot.em.model"] = p.model
        props["ro.csc.sales_code"] = "XFA"
        props["ro.build.PDA"] = p.incremental
    if p.manufacturer == "Xiaomi":
        props["ro.miui.ui.version.name"] = "V130"
        props["ro.miui.ui.version.code"] = "13"
    if p.rooted:
        props["ro.debuggable"] = "1"
        props["ro.build.tags"] = "test-keys"
    props.update(p.extra_props)
    return props


def render_getprop(props: dict[str, str]) -> str:
    """``getprop`` with no argument: ``[key]: [value]`` lines sorted by key."""
    return "".join(f"[{k}]: [{props[k]}]\n" for k in sorted(props))


def render_battery(p: PhoneProfile, api_level: int) -> str:
    """``dumpsys battery`` (BatteryService ``dumpInternal``) for this API level."""
    b = p.battery
    plugged = b.plugged if b.status in ("charging", "full") else "none"
    lines = [
        "Current Battery Service state:",
        f"  AC powered: {str(plugged == 'ac').lower()}",
        f"  USB powered: {str(plugged == 'usb').lower()}",
        f"  Wireless powered: {str(plugged == 'wireless').lower()}",
    ]
    if api_level >= 33:
        lines.append("  Dock powered: false")
    max_current = 500000 if plugged == "usb" else (1500000 if plugged == "ac" else 0)
    lines += [
        f"  Max charging current: {max_current}",
        f"  Max charging voltage: {5000000 if plugged != 'none' else 0}",
        f"  Charge counter: {b.level * 30000}",
        f"  status: {BATTERY_STATUS.get(b.status, 1)}",
        f"  health: {BATTERY_HEALTH.get(b.health, 1)}",
        "  present: true",
        f"  level: {b.level}",
        "  scale: 100",
        f"  voltage: {b.voltage_mv}",
        f"  temperature: {round(b.temperature_c * 10)}",
        f"  technology: {b.technology}",
    ]
    if api_level >= 34:
        lines += ["  Charging state: 1", "  Charging policy: 1"]
    return "\n".join(lines) + "\n"


def meminfo_values(p: PhoneProfile) -> dict[str, int]:
    """Key ``/proc/meminfo`` figures in kB. MemTotal is the RAM size less the kernel's and the
    modem/TEE carve-outs (about 8 % on the transcripts' phones)."""
    total = int(p.ram_mb * KB * 0.92)
    available = int(total * 0.38)
    free = int(total * 0.05)
    cached = int(total * 0.27)
    return {"MemTotal": total, "MemFree": free, "MemAvailable": available, "Cached": cached}


def render_meminfo(p: PhoneProfile) -> str:
    """``cat /proc/meminfo`` with the field set of the phone's kernel (3.18 on Android 8,
    4.14 on Android 10, 5.4/5.10 on Android 12 and 14)."""
    v = meminfo_values(p)
    t = v["MemTotal"]
    swap = t // 2
    fields: list[tuple[str, int]] = [
        ("MemTotal", t),
        ("MemFree", v["MemFree"]),
        ("MemAvailable", v["MemAvailable"]),
        ("Buffers", t // 180),
        ("Cached", v["Cached"]),
        ("SwapCached", t // 90),
        ("Active", int(t * 0.33)),
        ("Inactive", int(t * 0.21)),
        ("Active(anon)", int(t * 0.19)),
        ("Inactive(anon)", int(t * 0.06)),
        ("Active(file)", int(t * 0.14)),
        ("Inactive(file)", int(t * 0.15)),
        ("Unevictable", t // 60),
        ("Mlocked", t // 60),
        ("SwapTotal", swap),
        ("SwapFree", int(swap * 0.71)),
        ("Dirty", 412),
        ("Writeback", 0),
        ("AnonPages", int(t * 0.25)),
        ("Mapped", int(t * 0.16)),
        ("Shmem", t // 150),
    ]
    if p.api_level >= 31:
        fields.append(("KReclaimable", t // 25))
    fields += [
        ("Slab", t // 16),
        ("SReclaimable", t // 40),
        ("SUnreclaim", t // 26),
        ("KernelStack", 38000),
    ]
    if p.api_level >= 31:
        fields.append(("ShadowCallStack", 9600))
    fields += [
        ("PageTables", t // 36),
        ("NFS_Unstable", 0),
        ("Bounce", 0),
        ("WritebackTmp", 0),
        ("CommitLimit", t // 2 + swap),
        ("Committed_AS", t * 21),
        ("VmallocTotal", 263061440 if p.ram_mb > 1024 else 251658176),
        ("VmallocUsed", 0 if p.api_level >= 29 else 151348),
        ("VmallocChunk", 0),
    ]
    if p.api_level >= 29:
        fields.append(("Percpu", 3072))
    if p.api_level >= 31:
        fields.append(("CmaTotal", 0))
        fields.append(("CmaFree", 0))
    out = []
    for name, value in fields:
        label = f"{name}:"
        out.append(f"{label:<16}{value:>8} kB")
    return "\n".join(out) + "\n"


def data_partition_kb(p: PhoneProfile) -> int:
    """Size of /data in 1K blocks: storage less the system, vendor and other partitions."""
    system = 6 * KB * KB if p.api_level >= 31 else 4 * KB * KB
    return max(p.storage_total_mb * KB - system, p.storage_total_mb * KB // 2)


def data_device(p: PhoneProfile) -> str:
    """Block device /data sits on (dm-default-key on FBE phones from Android 11)."""
    if p.api_level >= 30 and p.crypto_type == "file":
        return "/dev/block/dm-9"
    if p.crypto_state == "encrypted" and p.crypto_type == "block":
        return "/dev/block/dm-0"
    return "/dev/block/mmcblk0p31"


def _human(kb: int) -> str:
    value = kb * 1024.0
    for unit in ("", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            if unit == "":
                return f"{int(value)}"
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
        value /= 1024
    return str(kb)


def render_df(p: PhoneProfile, free_kb: int, *, human: bool = False, all_mounts: bool = True):
    """toybox ``df`` (``-k`` is the default unit); ``all_mounts=False`` prints /data only."""
    total = data_partition_kb(p)
    free = max(0, min(free_kb, total))
    used = total - free
    rows = []
    if all_mounts:
        rows.append(("tmpfs", 940000, 1200, 938800, "/dev"))
        rows.append(("/dev/block/dm-1" if p.api_level >= 29 else "/dev/root", 3030000,
                     3011000, 19000, "/"))  # fmt: skip
    rows.append((data_device(p), total, used, free, "/data"))
    if human:
        header = "Filesystem        Size  Used Avail Use% Mounted on"
    else:
        header = "Filesystem       1K-blocks    Used Available Use% Mounted on"
    lines = [header]
    for dev, tot, usd, avail, mnt in rows:
        pct = 0 if tot == 0 else -(-usd * 100 // tot)
        if human:
            lines.append(f"{dev:<16} {_human(tot):>5} {_human(usd):>5} {_human(avail):>5} "
                         f"{pct:>3}% {mnt}")  # fmt: skip
        else:
            lines.append(f"{dev:<16} {tot:>9} {usd:>7} {avail:>9} {pct:>3}% {mnt}")
    return "\n".join(lines) + "\n"


def render_uptime(uptime_s: float, now: float | None = None) -> str:
    """toybox ``uptime``: `` 10:11:12 up 2 days, 3:04,  0 users,  load average: ...``."""
    now_dt = _dt.datetime.fromtimestamp(now or time.time())
    days, rem = divmod(int(uptime_s), 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    up = ""
    if days:
        up += f"{days} day{'s' if days != 1 else ''}, "
    up += f"{hours:2d}:{minutes:02d}" if hours else f"{minutes} min"
    return f" {now_dt:%H:%M:%S} up {up},  0 users,  load average: 2.31, 2.05, 1.98\n"


def java_signature_hash(der: bytes) -> str:
    """``Integer.toHexString(Arrays.hashCode(signatureBytes))`` as ``dumpsys package`` prints
    signer hashes (``Signature.hashCode``)."""
    h = 1
    for byte in der:
        signed = byte - 256 if byte > 127 else byte
        h = (31 * h + signed) & 0xFFFFFFFF
    return f"{h:x}"


def parcel_text(data: bytes) -> str:
    """libbinder ``Parcel`` dump as ``service call`` prints it (``Result: Parcel(...)``)."""
    if len(data) <= 16:
        words = [int.from_bytes(data[i : i + 4], "little") for i in range(0, len(data), 4)]
        hexpart = " ".join(f"{w:08x}" for w in words)
        ascii_part = "".join(chr(c) if 32 <= c < 127 else "." for c in data)
        return f"Result: Parcel({hexpart} '{ascii_part}')\n"
    lines = ["Result: Parcel("]
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        words = [int.from_bytes(chunk[i : i + 4], "little") for i in range(0, len(chunk), 4)]
        hexpart = " ".join(f"{w:08x}" for w in words)
        ascii_part = "".join(chr(c) if 32 <= c < 127 else "." for c in chunk)
        lines.append(f"  0x{off:08x}: {hexpart:<35} '{ascii_part:<16}'")
    return "\n".join(lines) + ")\n"


def parcel_string16(value: str | None) -> bytes:
    """A reply parcel holding no exception (int32 0) then ``writeString16(value)``."""
    out = b"\0\0\0\0"
    if value is None:
        return out + b"\xff\xff\xff\xff"
    encoded = value.encode("utf-16-le") + b"\0\0"
    encoded += b"\0" * (-len(encoded) % 4)
    return out + len(value).to_bytes(4, "little") + encoded


def render_pm_list(packages, *, show_versioncode: bool, with_path: bool, third_party: bool):
    """``pm list packages`` lines (``package:[path=]name[ versionCode:N]``)."""
    lines = []
    for pkg in sorted(packages, key=lambda x: x.name):
        if third_party and pkg.system:
            continue
        entry = "package:"
        if with_path:
            entry += f"{pkg.code_path}/base.apk="
        entry += pkg.name
        if show_versioncode:
            entry += f" versionCode:{pkg.version_code}"
        lines.append(entry)
    return "".join(line + "\n" for line in lines)


def _fmt_time(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def render_dumpsys_package(pkg, api_level: int, user_id: int) -> str:
    """``dumpsys package <name>``: the ``Packages:`` section of PackageManagerService dump."""
    sig = pkg.signature_hash
    obj = hashlib.sha1(pkg.name.encode()).hexdigest()
    lines = [
        "Dexopt state:",
        f"  [{pkg.name}]",
        f"    path: {pkg.code_path}/base.apk",
        "      arm64: [status=speed-profile] [reason=install]",
        "",
        "Packages:",
        f"  Package [{pkg.name}] ({obj[:7]}):",
        f"    userId={user_id}",
        f"    pkg=Package{{{obj[7:14]} {pkg.name}}}",
        f"    codePath={pkg.code_path}",
        f"    resourcePath={pkg.code_path}",
        f"    legacyNativeLibraryDir={pkg.code_path}/lib",
        "    primaryCpuAbi=null",
        "    secondaryCpuAbi=null",
    ]
    if api_level >= 28:
        lines.append(
            f"    versionCode={pkg.version_code} minSdk={pkg.min_sdk} targetSdk={pkg.target_sdk}"
        )
    else:
        lines.append(f"    versionCode={pkg.version_code} targetSdk={pkg.target_sdk}")
    lines += [
        f"    versionName={pkg.version_name}",
        "    splits=[base]",
        f"    apkSigningVersion={pkg.signing_version}",
        "    flags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ALLOW_BACKUP ]"
        if not pkg.system
        else "    flags=[ SYSTEM HAS_CODE ALLOW_CLEAR_USER_DATA ]",
        f"    dataDir=/data/user/0/{pkg.name}",
        f"    timeStamp={_fmt_time(pkg.last_update_time)}",
        f"    firstInstallTime={_fmt_time(pkg.first_install_time)}",
        f"    lastUpdateTime={_fmt_time(pkg.last_update_time)}",
        f"    installerPackageName={pkg.installer or 'null'}",
        f"    signatures=PackageSignatures{{{obj[14:21]} version:{pkg.signing_version}, "
        f"signatures:[{sig}], past signatures:[]}}",
        "    installPermissionsFixed=true",
        "    pkgFlags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ALLOW_BACKUP ]",
        "    requested permissions:",
    ]
    lines += [f"      {perm}" for perm in pkg.permissions]
    lines.append(
        "    User 0: ceDataInode=409343 installed=true hidden=false suspended=false "
        "stopped=false notLaunched=false enabled=0 instant=false virtual=false"
    )
    lines.append("      runtime permissions:")
    for perm in pkg.permissions:
        granted = perm in pkg.granted
        lines.append(f"        {perm}: granted={str(granted).lower()}, flags=[ USER_SET ]")
    return "\n".join(lines) + "\n"


def render_app_meminfo(name: str, pss_kb: int, pid: int, uptime_ms: int) -> str:
    """``dumpsys meminfo <pkg>`` for a running app with total PSS ``pss_kb``."""
    java = int(pss_kb * 0.22)
    native = int(pss_kb * 0.18)
    code = int(pss_kb * 0.25)
    stack = 1200
    graphics = int(pss_kb * 0.12)
    other = int(pss_kb * 0.06)
    system = pss_kb - java - native - code - stack - graphics - other
    rss = int(pss_kb * 1.45)
    return (
        "Applications Memory Usage (in Kilobytes):\n"
        f"Uptime: {uptime_ms} Realtime: {uptime_ms}\n\n"
        f"** MEMINFO in pid {pid} [{name}] **\n"
        "                   Pss  Private  Private  SwapPss      Rss     Heap     Heap     Heap\n"
        "                 Total    Dirty    Clean    Dirty    Total     Size    Alloc     Free\n"
        "                ------   ------   ------   ------   ------   ------   ------   ------\n"
        f"  Native Heap  {native:>8} {native - 40:>8}        0      312 {native + 900:>8}"
        f" {native + 8000:>8} {native + 2000:>8} {6000:>8}\n"
        f"  Dalvik Heap  {java:>8} {java - 60:>8}        0      120 {java + 1500:>8}"
        f" {java + 9000:>8} {java + 1000:>8} {8000:>8}\n"
        f"        TOTAL  {pss_kb:>8} {int(pss_kb * 0.7):>8} {int(pss_kb * 0.2):>8}"
        f"      900 {rss:>8} {native + java + 17000:>8} {native + java + 3000:>8}"
        f" {14000:>8}\n\n"
        " App Summary\n"
        "                       Pss(KB)                        Rss(KB)\n"
        "                        ------                         ------\n"
        f"           Java Heap:  {java:>8}                       {java + 1500:>8}\n"
        f"         Native Heap:  {native:>8}                       {native + 900:>8}\n"
        f"                Code:  {code:>8}                       {code * 2:>8}\n"
        f"               Stack:  {stack:>8}                       {stack:>8}\n"
        f"            Graphics:  {graphics:>8}                       {graphics:>8}\n"
        f"       Private Other:  {other:>8}\n"
        f"              System:  {system:>8}\n"
        f"             Unknown:                                 {1200:>8}\n\n"
        f"           TOTAL PSS:  {pss_kb:>8}            TOTAL RSS:  {rss:>8}"
        "       TOTAL SWAP PSS:      900\n"
    )
