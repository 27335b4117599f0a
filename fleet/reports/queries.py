"""Read-side queries of the health dashboard, exports, /metrics and the compliance API (one row
per device from ``device_health``, never a scan of the report history)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from fleet.extensions import db
from fleet.inventory.models import Device, OrgUnit
from fleet.inventory.operations import org_unit_subtree_clause, resolve_org_unit
from fleet.reports import compliance
from fleet.reports.models import DeviceHealth, HealthReport
from fleet.timeutil import utcnow

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
    age_days = (now - last_seen).total_seconds() / 86400
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
    return [(now - t).total_seconds() for t in db.session.scalars(
        select(DeviceHealth.last_seen_at).where(DeviceHealth.last_seen_at.is_not(None)))]


def stale_cutoff(days: float, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(days=days)


# ---- compliance API -------------------------------------------------------------------------

def finding_out(finding: dict, evaluated_at: datetime | None) -> dict:
    """The API shape of one finding (``Finding.to_dict()`` or a stored ``DeviceHealth.failing``
    entry): ``{"rule", "title", "status", "message", "evidence", "evaluated_at"}``."""
    rule = finding["rule"]
    return {"rule": rule, "title": str(compliance.RULES.get(rule, rule)),
            "status": finding["state"], "message": finding.get("message") or "",
            "evidence": finding.get("evidence") or {}, "evaluated_at": evaluated_at}


def device_compliance(device: Device, *, now: datetime | None = None) -> dict:
    """Every compliance rule for ``device``, evaluated now (as the device's health page does,
    not the stored verdict): ``{"asset_tag", "compliant", "evaluated_at", "findings"}`` with
    one :func:`finding_out` per rule of ``compliance.RULES``, in evaluation order."""
    now = now or utcnow()
    findings = compliance.evaluate(device, now=now)
    return {"asset_tag": device.asset_tag, "evaluated_at": now,
            "compliant": all(f.state != compliance.FAIL for f in findings),
            "findings": [finding_out(f.to_dict(), now) for f in findings]}


def _fails(rule: str):
    """SQL condition: the stored verdict has ``rule`` among its failing rules. ``failing``
    holds at most one entry per rule, so looking at as many positions as there are rules is
    exhaustive (JSON paths compile on SQLite and PostgreSQL alike)."""
    return or_(*(DeviceHealth.failing[(i, "rule")].as_string() == rule
                 for i in range(len(compliance.RULES))))


def compliance_query(*, rule: str | None = None, district: int | None = None,
                     status: str | None = None, compliant: bool | None = None):
    """A ``select(Device)`` for the compliance list, by asset tag: devices failing ``rule``,
    whose org unit is ``district`` (an org unit id) or below it, of inventory ``status``
    (default: all but retired), ``compliant`` true/false (devices not checked yet match
    neither). Reads the stored verdicts (``device_health``).

    Raises InvalidInput (422, field ``district``) when no org unit has the id ``district``."""
    stmt = (select(Device).outerjoin(DeviceHealth, DeviceHealth.device_id == Device.id)
            .order_by(Device.asset_tag))
    stmt = stmt.where(Device.status == status if status else Device.status != "retired")
    if district is not None:
        unit = resolve_org_unit(int(district), field_name="district")
        stmt = stmt.where(Device.org_unit_id.in_(
            select(OrgUnit.id).where(org_unit_subtree_clause(unit))))
    if compliant is not None:
        stmt = stmt.where(DeviceHealth.compliant == compliant)
    if rule:
        stmt = stmt.where(_fails(rule))
    return stmt


def compliance_rows(devices: list[Device]) -> list[dict]:
    """The compliance list's items for ``devices``: asset tag, inventory status, org unit and
    holder ids, the stored verdict (``compliant`` None when never checked), when it was
    evaluated, when the device last reported, and its failing findings (:func:`finding_out`)."""
    ids = [d.id for d in devices]
    states = {s.device_id: s for s in db.session.scalars(
        select(DeviceHealth).where(DeviceHealth.device_id.in_(ids)))} if ids else {}
    rows = []
    for device in devices:
        state = states.get(device.id)
        at = state.checked_at if state else None
        rows.append({
            "asset_tag": device.asset_tag, "status": device.status,
            "org_unit_id": device.org_unit_id, "holder_id": device.holder_id,
            "compliant": state.compliant if state else None, "evaluated_at": at,
            "last_seen_at": state.last_seen_at if state else None,
            "failing": [finding_out(f, at) for f in (state.failing if state else [])]})
    return rows
