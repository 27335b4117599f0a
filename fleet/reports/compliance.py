"""Compliance rules: each judges one device from its latest health reports and says pass, fail
or unknown, with the evidence it used.

Thresholds are configurable (``ComplianceSetting`` rows override :data:`DEFAULTS`; the
settings page and ``fleet health settings`` change them). A rule whose input is unknown (a
field the phone did not report) answers ``unknown``, never ``fail``.

The expected release of a device's channel comes from issue 4's distribution
(``fleet.apk.operations.channel_for_device`` / ``release_for``) through :func:`expected_release`;
the RAM rule calls the capacity model's ``fleet.capacity.operations.device_verdict``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from fleet.capacity.operations import device_verdict
from fleet.extensions import db
from fleet.reports.models import CAPTURE_PACKAGE, ComplianceSetting, HealthReport
from fleet.timeutil import utcnow

try:  # issue 4 (APK channels); compliance judges app versions only when it is installed
    from fleet.apk import operations as apk_ops
except ImportError:  # pragma: no cover - only before issue 4 lands
    apk_ops = None

#: Threshold defaults and their sources.
DEFAULTS: dict[str, float] = {
    # Free space on /data below which a phone fails (MB). fleet default: the Capture app's
    # database and an APK update (~50 MB downloaded, twice that to install) need headroom;
    # DHIS2 mobile-device-specs ask for 8 GB storage minimum, 32 GB recommended.
    "min_free_storage_mb": 1024,
    # Battery level at or below which a report counts as critical (%). AOSP
    # frameworks/base core/res/res/values/config.xml: config_lowBatteryWarningLevel = 15.
    "battery_critical_level": 15,
    # "Repeatedly critical": this many critical reports among the last `battery_window` ones.
    "battery_critical_count": 3,
    "battery_window": 5,
    # No report for this many days -> stale (issue 8: "not seen for a week").
    "stale_days": 7,
    # minSdk assumed when the channel's release is unknown (DESIGN.md: Capture app minSdk 23).
    "capture_min_sdk": 23,
    # 1: a "marginal" capacity verdict also fails the RAM rule; 0: only "insufficient".
    "ram_fail_on_marginal": 0,
}
SETTING_LABELS = {
    "min_free_storage_mb": _l("Minimum free storage (MB)"),
    "battery_critical_level": _l("Critical battery level (%)"),
    "battery_critical_count": _l("Critical reports that fail the battery rule"),
    "battery_window": _l("Reports looked at for the battery rule"),
    "stale_days": _l("Days without a report before a device is stale"),
    "capture_min_sdk": _l("Capture app minSdk when the release is unknown"),
    "ram_fail_on_marginal": _l("A marginal capacity verdict fails the RAM rule (1 = yes)"),
}
RULES = {
    "app_behind": _l("Capture app behind its channel's release"),
    "api_below_min_sdk": _l("Android API below the release's minSdk"),
    "low_storage": _l("Free storage below the threshold"),
    "battery": _l("Battery health not good or level repeatedly critical"),
    "stale": _l("No report for too long"),
    "not_encrypted": _l("Storage not encrypted"),
    "no_screen_lock": _l("No screen lock"),
    "sim_swapped": _l("Reported SIM differs from the paired SIM"),
    "ram_capacity": _l("RAM below the capacity model's verdict for the holder's workload"),
}
PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"
STATES = (PASS, FAIL, UNKNOWN)


@dataclass
class Finding:
    """One rule's answer for one device: ``state`` pass/fail/unknown, a message, evidence."""

    rule: str
    state: str
    message: str
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def settings() -> dict[str, float]:
    """Thresholds in force: :data:`DEFAULTS` overridden by stored settings."""
    values = dict(DEFAULTS)
    for row in db.session.scalars(select(ComplianceSetting)):
        if row.key in values:
            values[row.key] = row.value
    return values


def expected_release(device, package: str = CAPTURE_PACKAGE) -> dict | None:
    """``{"channel", "version_code", "version_name", "min_sdk"}`` of the release the device's
    channel serves it (rollout honoured), or None when there is no channel, no release, or the
    APK domain (issue 4) is not installed."""
    if apk_ops is None:
        return None
    channel = apk_ops.channel_for_device(device)
    if channel is None:
        return None
    release = apk_ops.release_for(channel, package, device.id)
    if release is None:
        return None
    return {"channel": channel.name, "version_code": release.version_code,
            "version_name": release.version_name, "min_sdk": release.min_sdk}


def recent_reports(device_id: int, limit: int) -> list[HealthReport]:
    """The device's last ``limit`` reports, newest first."""
    return list(db.session.scalars(
        select(HealthReport).where(HealthReport.device_id == device_id)
        .order_by(HealthReport.received_at.desc(), HealthReport.id.desc()).limit(limit)))


def evaluate(device, *, latest: HealthReport | None = None, history: list | None = None,
             now: datetime | None = None, thresholds: dict | None = None,
             release: dict | None | bool = False) -> list[Finding]:
    """Every rule for ``device`` (inventory Device). ``latest``/``history`` default to the
    device's stored reports (history newest first); ``release`` False means "look it up"
    (:func:`expected_release`). Returns one :class:`Finding` per rule in :data:`RULES`."""
    t = thresholds or settings()
    now = now or utcnow()
    window = max(1, int(t["battery_window"]))
    if history is None:
        history = recent_reports(device.id, window)
    if latest is None:
        latest = history[0] if history else None
    if release is False:
        release = expected_release(device)
    findings = [
        _stale(latest, now, t),
        _app_behind(latest, release),
        _api_below(latest, release, t),
        _low_storage(latest, t),
        _battery(history[:window], t),
        _encryption(latest),
        _screen_lock(latest),
        _sim(device, latest),
        _ram(device, latest, t),
    ]
    return findings


def _msg(rule: str) -> str:
    return str(RULES[rule])


def _unknown(rule: str, why: str, **evidence) -> Finding:
    return Finding(rule, UNKNOWN, why, evidence)


def _stale(latest, now, t) -> Finding:
    days = t["stale_days"]
    if latest is None:
        return Finding("stale", FAIL, str(_l("Never reported.")), {"last_seen": None})
    seen = latest.received_at
    age = now - seen
    evidence = {"last_seen": seen.isoformat(), "age_days": round(age.total_seconds() / 86400, 1),
                "threshold_days": days}
    if age > timedelta(days=days):
        return Finding("stale", FAIL, str(_l("No report for %(d)s days.", d=age.days)), evidence)
    return Finding("stale", PASS, "", evidence)


def _app_behind(latest, release) -> Finding:
    if not release or release.get("version_code") is None:
        return _unknown("app_behind", str(_l("No release known for the device's channel.")))
    if latest is None:
        return _unknown("app_behind", str(_l("No report.")))
    have = latest.capture_version_code
    evidence = {"installed_version_code": have, "installed_version_name":
                latest.capture_version_name, "channel": release["channel"],
                "release_version_code": release["version_code"],
                "release_version_name": release["version_name"]}
    if have is None:
        installed = (latest.packages or {}).get(CAPTURE_PACKAGE, {}).get("installed")
        if installed is False:
            return Finding("app_behind", FAIL, str(_l("Capture app not installed.")), evidence)
        return _unknown("app_behind", str(_l("Installed version unknown.")), **evidence)
    if have < release["version_code"]:
        return Finding("app_behind", FAIL, str(_l(
            "Capture app %(have)s, channel %(ch)s serves %(want)s.",
            have=latest.capture_version_name or have, ch=release["channel"],
            want=release["version_name"] or release["version_code"])), evidence)
    return Finding("app_behind", PASS, "", evidence)


def _api_below(latest, release, t) -> Finding:
    min_sdk = (release or {}).get("min_sdk") or int(t["capture_min_sdk"])
    if latest is None or latest.api_level is None:
        return _unknown("api_below_min_sdk", str(_l("API level unknown.")), min_sdk=min_sdk)
    evidence = {"api_level": latest.api_level, "min_sdk": min_sdk}
    if latest.api_level < min_sdk:
        return Finding("api_below_min_sdk", FAIL, str(_l(
            "API %(api)s is below minSdk %(min)s.", api=latest.api_level, min=min_sdk)),
            evidence)
    return Finding("api_below_min_sdk", PASS, "", evidence)


def _low_storage(latest, t) -> Finding:
    limit = t["min_free_storage_mb"]
    if latest is None or latest.storage_free_mb is None:
        return _unknown("low_storage", str(_l("Free storage unknown.")), threshold_mb=limit)
    evidence = {"storage_free_mb": latest.storage_free_mb, "threshold_mb": limit}
    if latest.storage_free_mb < limit:
        return Finding("low_storage", FAIL, str(_l(
            "%(free)s MB free, below %(min)s MB.", free=latest.storage_free_mb,
            min=int(limit))), evidence)
    return Finding("low_storage", PASS, "", evidence)


def _battery(history, t) -> Finding:
    if not history:
        return _unknown("battery", str(_l("No report.")))
    latest = history[0]
    level_limit, needed = t["battery_critical_level"], int(t["battery_critical_count"])
    levels = [r.battery_level for r in history]
    critical = [lv for lv in levels if lv is not None and lv <= level_limit]
    evidence = {"battery_health": latest.battery_health, "recent_levels": levels,
                "critical_level": level_limit, "critical_reports": len(critical),
                "critical_reports_needed": needed}
    if latest.battery_health not in (None, "good", "unknown"):
        return Finding("battery", FAIL, str(_l("Battery health: %(h)s.",
                                               h=latest.battery_health)), evidence)
    if len(critical) >= needed:
        return Finding("battery", FAIL, str(_l(
            "Battery at or below %(l)s%% in %(n)s of the last %(m)s reports.",
            l=int(level_limit), n=len(critical), m=len(levels))), evidence)
    if latest.battery_health is None and all(lv is None for lv in levels):
        return _unknown("battery", str(_l("Battery not reported.")), **evidence)
    return Finding("battery", PASS, "", evidence)


def _encryption(latest) -> Finding:
    if latest is None or latest.crypto_state is None:
        return _unknown("not_encrypted", str(_l("Encryption state unknown.")))
    evidence = {"ro.crypto.state": latest.crypto_state}
    if latest.crypto_state != "encrypted":
        return Finding("not_encrypted", FAIL, str(_l("Storage is %(s)s.",
                                                     s=latest.crypto_state)), evidence)
    return Finding("not_encrypted", PASS, "", evidence)


def _screen_lock(latest) -> Finding:
    if latest is None or latest.screen_lock_set is None:
        return _unknown("no_screen_lock", str(_l("Screen lock state unknown.")))
    if not latest.screen_lock_set:
        return Finding("no_screen_lock", FAIL, str(_l("No screen lock set.")),
                       {"screen_lock_set": False})
    return Finding("no_screen_lock", PASS, "", {"screen_lock_set": True})


def _sim(device, latest) -> Finding:
    paired = [s.iccid for s in device.current_sims]
    if latest is None or latest.iccid is None:
        return _unknown("sim_swapped", str(_l("ICCID not reported.")), paired_iccids=paired)
    evidence = {"reported_iccid": latest.iccid, "paired_iccids": paired}
    if not paired:
        return _unknown("sim_swapped", str(_l("No SIM paired in the inventory.")), **evidence)
    if latest.iccid not in paired:
        return Finding("sim_swapped", FAIL, str(_l(
            "Phone reports SIM %(r)s, inventory pairs %(p)s.", r=latest.iccid,
            p=", ".join(paired))), evidence)
    return Finding("sim_swapped", PASS, "", evidence)


def _ram(device, latest, t) -> Finding:
    holder = device.holder
    if holder is None:
        return _unknown("ram_capacity", str(_l("No holder, no workload to judge.")))
    free = latest.storage_free_mb if latest is not None else None
    verdict = device_verdict(device, holder, free_storage_mb=free)
    evidence = {"verdict": verdict.verdict, "ram_mb": device.ram_mb,
                "reported_ram_total_mb": latest.ram_total_mb if latest else None,
                "recommended_ram_mb": verdict.recommended_ram_mb,
                "reasons": [r.message for r in verdict.reasons][:3]}
    failing = ("insufficient", "marginal") if t["ram_fail_on_marginal"] else ("insufficient",)
    if verdict.verdict == "unknown":
        return _unknown("ram_capacity", str(_l("Capacity verdict unknown.")), **evidence)
    if verdict.verdict in failing:
        return Finding("ram_capacity", FAIL, str(_l(
            "Capacity verdict %(v)s for %(h)s's workload.", v=verdict.verdict, h=holder.name)),
            evidence)
    return Finding("ram_capacity", PASS, "", evidence)
