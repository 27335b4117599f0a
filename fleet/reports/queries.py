"""Read-side queries of the health dashboard, exports and /metrics (one row per device from
``device_health``, never a scan of the report history)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from fleet.extensions import db
from fleet.inventory.models import Device, OrgUnit
from fleet.reports.models import DeviceHealth, HealthReport
from fleet.timeutil import as_utc, utcnow

try:  # issue 4 (APK channels)
    from fleet.apk import operations as apk_ops
except ImportError:  # pragma: no cover - only before issue 4 lands
    apk_ops = None

#: Last-seen buckets of the dashboard and /metrics: (label, upper bound in days).
LAST_SEEN_BUCKETS = (("< 1 day", 1), ("1-3 days", 3), ("3-7 days", 7), ("7-30 days", 30),
                     ("> 30 days", None))


def _district_of(device: Device, districts: dict[int, OrgUnit]) -> str:
    unit = device.org_unit or (device.holder.org_unit if device.holder else None)
    if unit is None:
        return "—"
    ids = [int(p) for p in unit.path.strip("/").split("/") if p] or [unit.id]
    for uid in ids:
        if uid in districts:
            return districts[uid].name
    return unit.name


def fleet_rows(*, district: str | None = None) -> list[dict]:
    """One dict per device (not retired): device, district name, DeviceHealth (or None), the
    latest report (or None). ``district`` filters by district name."""
    districts = {u.id: u for u in db.session.scalars(select(OrgUnit).where(OrgUnit.level == 3))}
    stmt = (select(Device, DeviceHealth, HealthReport)
            .outerjoin(DeviceHealth, DeviceHealth.device_id == Device.id)
            .outerjoin(HealthReport, HealthReport.id == DeviceHealth.last_report_id)
            .where(Device.status != "retired")
            .options(selectinload(Device.org_unit), selectinload(Device.holder))
            .order_by(Device.asset_tag))
    rows = []
    for device, state, report in db.session.execute(stmt):
        name = _district_of(device, districts)
        if district and name != district:
            continue
        rows.append({"device": device, "district": name, "state": state, "report": report})
    return rows


def channel_name(device: Device) -> str:
    """The name of the APK channel the device belongs to, "—" when none (or no APK domain)."""
    if apk_ops is None:
        return "—"
    channel = apk_ops.channel_for_device(device)
    return channel.name if channel is not None else "—"


def bucket_of(last_seen: datetime | None, now: datetime) -> str:
    if last_seen is None:
        return "never"
    age_days = (now - as_utc(last_seen)).total_seconds() / 86400
    for label, limit in LAST_SEEN_BUCKETS:
        if limit is None or age_days < limit:
            return label
    return LAST_SEEN_BUCKETS[-1][0]


def summary(rows: list[dict], now: datetime | None = None) -> dict:
    """Dashboard figures from :func:`fleet_rows`: counts by status, by district (total,
    compliant, non-compliant, never reported), app versions per channel, last-seen buckets,
    failing rule counts and the non-compliant devices."""
    now = now or utcnow()
    channels: dict[tuple, str] = {}
    by_status = Counter(r["device"].status for r in rows)
    by_district: dict[str, Counter] = defaultdict(Counter)
    versions: dict[str, Counter] = defaultdict(Counter)
    last_seen = Counter()
    rules = Counter()
    failing = []
    for r in rows:
        state, report, device = r["state"], r["report"], r["device"]
        d = by_district[r["district"]]
        d["total"] += 1
        if state is None or state.compliant is None:
            d["unchecked"] += 1
        elif state.compliant:
            d["compliant"] += 1
        else:
            d["non_compliant"] += 1
            failing.append(r)
            for f in state.failing:
                rules[f["rule"]] += 1
        last_seen[bucket_of(state.last_seen_at if state else None, now)] += 1
        if report is not None:
            key = (device.holder_id, device.org_unit_id)
            if key not in channels:  # the channel depends on holder and org unit only
                channels[key] = channel_name(device)
            channel = channels[key]
            versions[channel][report.capture_version_name or "not installed"
                              if report.capture_version_code is None
                              else report.capture_version_name or str(report.capture_version_code)
                              ] += 1
    return {"by_status": dict(by_status), "by_district": {k: dict(v) for k, v in
                                                          sorted(by_district.items())},
            "versions": {k: dict(v.most_common()) for k, v in sorted(versions.items())},
            "last_seen": [(label, last_seen.get(label, 0)) for label, _ in LAST_SEEN_BUCKETS]
            + [("never", last_seen.get("never", 0))],
            "rules": dict(rules.most_common()), "failing": failing, "total": len(rows)}


def compliance_counts() -> dict[str, int]:
    """``{"compliant": n, "non_compliant": n, "unchecked": n}`` over devices not retired."""
    rows = db.session.execute(
        select(DeviceHealth.compliant, func.count()).select_from(Device)
        .outerjoin(DeviceHealth, DeviceHealth.device_id == Device.id)
        .where(Device.status != "retired").group_by(DeviceHealth.compliant)).all()
    out = {"compliant": 0, "non_compliant": 0, "unchecked": 0}
    for compliant, n in rows:
        key = "unchecked" if compliant is None else ("compliant" if compliant else
                                                      "non_compliant")
        out[key] += n
    return out


def report_ages(now: datetime | None = None) -> list[float]:
    """Seconds since the latest report of each device that has reported."""
    now = now or utcnow()
    return [(now - as_utc(t)).total_seconds() for t in db.session.scalars(
        select(DeviceHealth.last_seen_at).where(DeviceHealth.last_seen_at.is_not(None)))]


def stale_cutoff(days: float, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(days=days)
