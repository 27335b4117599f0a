"""Profiles of simulated phones: what each phone is, what it has installed, and its faults.

A profile is a plain dataclass tree that loads from a ``dict`` (JSON or TOML) with
:func:`load_profiles`. :func:`catalogue_profiles` makes N varied, realistic profiles from the
models in :data:`MODELS`, each based on a real-device transcript in ``transcripts/``.

Units: RAM and storage in MB (10**6 bytes is *not* used: "MB" here is MiB, as Android's own
``/proc/meminfo`` kB and ``df`` 1K-blocks are binary units), battery temperature in degrees
Celsius (``dumpsys battery`` prints tenths), throughput in MB/s (MiB/s), latency in ms.
"""

from __future__ import annotations

import json
import random
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

#: Battery health and status names as ``BatteryManager`` defines them (BATTERY_HEALTH_*,
#: BATTERY_STATUS_*); ``dumpsys battery`` prints the integer codes.
BATTERY_HEALTH = {
    "unknown": 1,
    "good": 2,
    "overheat": 3,
    "dead": 4,
    "over_voltage": 5,
    "unspecified_failure": 6,
    "cold": 7,
}
BATTERY_STATUS = {"unknown": 1, "charging": 2, "discharging": 3, "not_charging": 4, "full": 5}

#: Android version -> API level (developer.android.com "API levels").
API_LEVELS = {"8.0.0": 26, "8.1.0": 27, "9": 28, "10": 29, "11": 30, "12": 31, "13": 33, "14": 34}


@dataclass
class Battery:
    """Battery state as ``dumpsys battery`` reports it."""

    level: int = 80
    health: str = "good"
    temperature_c: float = 28.0
    status: str = "charging"
    plugged: str = "usb"  # "ac", "usb", "wireless" or "none"
    voltage_mv: int = 4100
    technology: str = "Li-ion"


@dataclass
class Package:
    """An installed package: ``signer_sha256`` is the lowercase hex SHA-256 of the signing
    certificate (DER), as ``apksigner verify --print-certs`` prints it."""

    name: str
    version_code: int
    version_name: str
    signer_sha256: str = ""
    min_sdk: int = 21
    target_sdk: int = 30
    size_bytes: int = 20 * 1024 * 1024
    system: bool = False
    permissions: list[str] = field(default_factory=list)
    debuggable: bool = False


@dataclass
class Faults:
    """Per-phone faults and realism knobs.

    ``throughput_mbps``: USB throughput for data the host sends (push, install) and pulls, in
    MB/s; ``None`` is unthrottled. ``latency_ms``: added before answering each stream opened.
    ``unplug_after_bytes``: the phone is unplugged once it has received this many payload bytes
    since it was last plugged. ``unplug_during``: a step name ("push", "pull", "install",
    "reboot" or the first word of a shell command such as "locksettings"); the phone is
    unplugged halfway through that step. ``offline``: the phone answers no CNXN (adb shows it
    ``offline``). ``unauthorized``: the phone asks for AUTH and never accepts the host's key until
    authorized through the control API. ``low_battery`` / ``low_storage``: override the profile
    with 4 % battery discharging / 64 MB free on /data.
    """

    throughput_mbps: float | None = None
    latency_ms: float = 0.0
    unplug_after_bytes: int | None = None
    unplug_during: str | None = None
    offline: bool = False
    unauthorized: bool = False
    low_battery: bool = False
    low_storage: bool = False


@dataclass
class PhoneProfile:
    """One simulated phone. ``transcript`` names the real-device transcript family whose output
    formats this phone copies (see ``transcripts/SOURCES.md``)."""

    serial: str
    imei: str
    model: str = "SM-A107F"
    manufacturer: str = "samsung"
    brand: str = "samsung"
    device: str = "a10s"
    product: str = "a10sxx"
    android_version: str = "10"
    api_level: int = 29
    security_patch: str = "2021-08-01"
    build_id: str = "QP1A.190711.020"
    incremental: str = "A107FXXU8BUG1"
    ram_mb: int = 2048
    storage_total_mb: int = 32768
    storage_free_mb: int = 20000
    battery: Battery = field(default_factory=Battery)
    crypto_state: str = "encrypted"
    crypto_type: str = "file"
    rooted: bool = False
    packages: list[Package] = field(default_factory=list)
    iccid: str | None = None
    screen_lock_pin: str | None = None
    app_memory_kb: dict[str, int] = field(default_factory=dict)
    uptime_s: int = 3600
    transcript: str = "android10_samsung"
    extra_props: dict[str, str] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhoneProfile:
        """Build a profile from plain data; unknown keys raise ``ValueError``."""
        data = dict(data)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown profile fields: {', '.join(sorted(unknown))}")
        if isinstance(data.get("battery"), dict):
            data["battery"] = Battery(**data["battery"])
        if isinstance(data.get("faults"), dict):
            data["faults"] = Faults(**data["faults"])
        data["packages"] = [
            p if isinstance(p, Package) else Package(**p) for p in data.get("packages", [])
        ]
        if "api_level" not in data and data.get("android_version") in API_LEVELS:
            data["api_level"] = API_LEVELS[data["android_version"]]
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-serialisable) for this profile."""
        return asdict(self)


def load_profiles(path: str | Path) -> list[PhoneProfile]:
    """Load profiles from a JSON or TOML file (chosen by suffix).

    The file holds one profile, a list of profiles, or ``{"phones": [...]}`` (TOML:
    ``[[phones]]`` tables). Raises ``ValueError`` on unknown fields, ``OSError`` if unreadable.
    """
    path = Path(path)
    if path.suffix.lower() == ".toml":
        data: Any = tomllib.loads(path.read_text(encoding="utf-8"))
    else:
        data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and "phones" in data:
        data = data["phones"]
    if isinstance(data, dict):
        data = [data]
    return [PhoneProfile.from_dict(item) for item in data]


@dataclass(frozen=True)
class Model:
    """A real phone model the catalogue draws from (specs from the makers' spec sheets)."""

    manufacturer: str
    brand: str
    model: str
    device: str
    product: str
    android_version: str
    api_level: int
    build_id: str
    incremental: str
    security_patch: str
    ram_mb: int
    storage_total_mb: int
    crypto_type: str
    transcript: str
    tac: str  # the IMEI's 8-digit Type Allocation Code


#: Models the catalogue varies over. Android 8.1, 10, 12 and 14; Samsung, Xiaomi and Google.
MODELS: tuple[Model, ...] = (
    Model("samsung", "samsung", "SM-J260F", "j2corelte", "j2corelteub", "8.1.0", 27,
          "M1AJQ", "J260FUBU5ASH1", "2019-08-01", 1024, 8192, "block",
          "android8_samsung", "35845110"),
    Model("samsung", "samsung", "SM-A107F", "a10s", "a10sxx", "10", 29,
          "QP1A.190711.020", "A107FXXU8BUG1", "2021-07-01", 2048, 32768, "file",
          "android10_samsung", "35237811"),
    Model("Xiaomi", "Redmi", "220333QAG", "fog", "fog_global", "12", 31,
          "SKQ1.211019.001", "V13.0.6.0.SGEMIXM", "2022-09-01", 3072, 65536, "file",
          "android12_xiaomi", "86423505"),
    Model("Google", "google", "Pixel 6a", "bluejay", "bluejay", "14", 34,
          "UQ1A.240205.002", "11224170", "2024-02-05", 6144, 131072, "file",
          "android14_google", "35327762"),
    Model("samsung", "samsung", "SM-A145F", "a14", "a14nsxx", "14", 34,
          "UP1A.231005.007", "A145FXXS5CXB1", "2024-02-01", 4096, 65536, "file",
          "android14_samsung", "35016829"),
)  # fmt: skip


def luhn_complete(digits: str) -> str:
    """Append the Luhn check digit to ``digits`` (IMEI and ICCID use it; ISO/IEC 7812-1)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return digits + str((10 - total % 10) % 10)


def catalogue_profiles(count: int, *, seed: int = 7) -> list[PhoneProfile]:
    """``count`` varied realistic profiles drawn round-robin from :data:`MODELS`.

    Deterministic for a given ``seed``: serials, IMEIs (Luhn-valid, real TACs), ICCIDs
    (``89`` + country/issuer + Luhn), battery, free storage and uptime vary per phone.
    """
    rng = random.Random(seed)
    profiles = []
    for i in range(count):
        m = MODELS[i % len(MODELS)]
        serial_chars = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
        serial = "".join(rng.choice(serial_chars) for _ in range(11))
        if m.manufacturer == "samsung":
            serial = "R58" + serial[:8]
        imei = luhn_complete(m.tac + f"{rng.randrange(10**6):06d}")
        iccid = luhn_complete("8925402" + f"{rng.randrange(10**11):011d}")
        free = int(m.storage_total_mb * rng.uniform(0.35, 0.8))
        profiles.append(
            PhoneProfile(
                serial=serial,
                imei=imei,
                model=m.model,
                manufacturer=m.manufacturer,
                brand=m.brand,
                device=m.device,
                product=m.product,
                android_version=m.android_version,
                api_level=m.api_level,
                security_patch=m.security_patch,
                build_id=m.build_id,
                incremental=m.incremental,
                ram_mb=m.ram_mb,
                storage_total_mb=m.storage_total_mb,
                storage_free_mb=free,
                battery=Battery(
                    level=rng.randint(35, 100),
                    temperature_c=round(rng.uniform(24.0, 34.0), 1),
                    voltage_mv=rng.randint(3800, 4350),
                ),
                crypto_state="encrypted",
                crypto_type=m.crypto_type,
                iccid=iccid,
                uptime_s=rng.randint(600, 5 * 86400),
                transcript=m.transcript,
            )
        )
    return profiles
