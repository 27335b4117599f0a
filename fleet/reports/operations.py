"""Operations on health data: store a report (pulled or pushed), keep each device's latest
state and compliance verdict, issue and check per-device push tokens, change thresholds.

Operations flush and never commit (the API handler, CLI command or job wrapper commits).
Reports themselves are measurements, not changes people make, so they are not written to the
audit log (a 10,000-phone fleet reporting hourly would drown it); tokens and thresholds are.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from fleet.audit.operations import record, snapshot
from fleet.crypto import hash_token, new_token
from fleet.errors import Conflict, InvalidInput, NotFound
from fleet.extensions import db
from fleet.inventory.models import Device
from fleet.reports import compliance
from fleet.reports.models import (
    CAPTURE_PACKAGE,
    ComplianceSetting,
    DeviceHealth,
    HealthReport,
    HealthToken,
)
from fleet.timeutil import utcnow

log = logging.getLogger(__name__)

#: Report fields copied from the parsed/validated data onto the HealthReport row.
REPORT_FIELDS = (
    "battery_level", "battery_health", "battery_temperature_c", "battery_status",
    "battery_charging", "storage_total_mb", "storage_free_mb", "ram_total_mb",
    "ram_available_mb", "android_version", "api_level", "security_patch", "uptime_s",
    "crypto_state", "screen_lock_set", "app_pss_mb", "imei", "iccid", "serial", "station",
    "collected_at",
)


def _name(actor) -> str:
    return getattr(actor, "username", None) or "system"


# ---- devices --------------------------------------------------------------------------------

def device_by_asset_tag(asset_tag: str) -> Device:
    """The device with this asset tag (case-insensitive). Raises NotFound."""
    device = db.session.scalar(select(Device).where(
        func.upper(Device.asset_tag) == (asset_tag or "").strip().upper()))
    if device is None:
        raise NotFound(_l("No device %(r)s.", r=asset_tag))
    return device


def device_for_pull(data: dict) -> Device:
    """The inventory device a pulled phone is: by its own serial (``ro.serialno``), then IMEI.
    Raises NotFound (the phone is skipped) when neither matches."""
    conds = []
    if data.get("serial"):
        conds.append(Device.serial == data["serial"])
    if data.get("imei"):
        conds += [Device.imei == data["imei"], Device.imei2 == data["imei"]]
    device = db.session.scalar(select(Device).where(or_(*conds)).limit(1)) if conds else None
    if device is None:
        raise NotFound(_l("Phone %(s)s (IMEI %(i)s) is not in the inventory.",
                          s=data.get("serial") or "?", i=data.get("imei") or "unknown"))
    return device


# ---- reports --------------------------------------------------------------------------------

def record_report(device: Device, data: dict, *, source: str, raw: dict | None = None,
                  evaluate: bool = True, savepoint: bool = True) -> HealthReport:
    """Store one health report of ``device`` and update its latest state and compliance.

    ``data``: the report fields (see :data:`REPORT_FIELDS`; absent or None = unknown),
    ``report_id`` (idempotency key, unique per device) and ``packages``
    (``{package: {"version_code", "version_name"}}``). ``source``: ``pull`` or ``push``.
    ``raw``: command outputs kept for diagnosis.

    Raises Conflict (409) when the device already has a report with this ``report_id``;
    nothing is stored then: the insert runs in a SAVEPOINT, or, with ``savepoint=False`` (a
    caller whose transaction holds nothing else, e.g. one pushed report: two round trips
    fewer), the caller rolls the whole transaction back."""
    report_id = str(data["report_id"])
    packages = {str(k): dict(v) for k, v in (data.get("packages") or {}).items()}
    capture = packages.get(CAPTURE_PACKAGE) or {}
    report = HealthReport(device_id=device.id, report_id=report_id, source=source,
                          packages=packages, raw=raw or {},
                          capture_version_code=capture.get("version_code"),
                          capture_version_name=capture.get("version_name"))
    for name in REPORT_FIELDS:
        setattr(report, name, data.get(name))
    try:
        if savepoint:
            with db.session.begin_nested():
                db.session.add(report)
        else:
            db.session.add(report)
            db.session.flush()
    except IntegrityError as exc:  # uq_health_report_device_id: replayed (or racing) report
        raise Conflict(_l("Report %(r)s was already received.", r=report_id),
                       fields={"report_id": _l("Already received.")}) from exc
    state = db.session.get(DeviceHealth, device.id)
    if state is None:
        state = DeviceHealth(device_id=device.id, failing=[])
        db.session.add(state)
    received = report.received_at
    if state.last_seen_at is None or state.last_seen_at <= received:
        state.last_report_id = report.id
        state.last_seen_at = received
    db.session.flush()
    if evaluate:
        refresh_compliance(device, state=state)
    return report


def refresh_compliance(device: Device, *, state: DeviceHealth | None = None,
                       now: datetime | None = None, thresholds: dict | None = None,
                       release: dict | None | bool = False) -> list[compliance.Finding]:
    """Re-run every compliance rule for ``device`` and store the failing ones on its
    DeviceHealth row (created when missing). Returns all findings."""
    state = state or db.session.get(DeviceHealth, device.id)
    if state is None:
        state = DeviceHealth(device_id=device.id, failing=[])
        db.session.add(state)
    findings = compliance.evaluate(device, now=now, thresholds=thresholds, release=release)
    failing = [f.to_dict() for f in findings if f.state == compliance.FAIL]
    state.failing = failing
    state.compliant = not failing
    state.checked_at = now or utcnow()
    db.session.flush()
    return findings


def refresh_all(*, now: datetime | None = None, batch: int = 500) -> int:
    """Re-evaluate compliance for every device that is not retired; returns the count. Used by
    the stale-device job (staleness changes with time alone)."""
    thresholds = compliance.settings()
    count = 0
    stmt = select(Device).where(Device.status != "retired").order_by(Device.id)
    for device in db.session.scalars(stmt.execution_options(yield_per=batch)):
        refresh_compliance(device, now=now, thresholds=thresholds)
        count += 1
    return count


def history(device: Device, limit: int = 200) -> list[HealthReport]:
    """The device's reports, oldest first (at most ``limit``, the most recent ones)."""
    rows = db.session.scalars(select(HealthReport).where(HealthReport.device_id == device.id)
                              .order_by(HealthReport.received_at.desc(),
                                        HealthReport.id.desc()).limit(limit)).all()
    return list(reversed(rows))


# ---- tokens ---------------------------------------------------------------------------------

def issue_token(device: Device, *, actor) -> tuple[HealthToken, str]:
    """A new push token for ``device``; returns (row, plain token shown once)."""
    plain = new_token("fdh")
    token = HealthToken(device_id=device.id, token_hash=hash_token(plain), prefix=plain[:10],
                        created_by=_name(actor))
    db.session.add(token)
    db.session.flush()
    record(actor, "health_token.issue", token, after=snapshot(token))
    return token, plain


def revoke_token(token: HealthToken, *, actor) -> HealthToken:
    before = snapshot(token)
    token.revoked_at = utcnow()
    db.session.flush()
    record(actor, "health_token.revoke", token, before=before, after=snapshot(token))
    return token


def valid_token(plain: str | None) -> HealthToken | None:
    """The valid (not revoked) push token row for ``plain``, or None. Reads only."""
    if not plain:
        return None
    return db.session.scalar(select(HealthToken).where(
        HealthToken.token_hash == hash_token(plain), HealthToken.revoked_at.is_(None)))


def touch_token(token_id: int) -> None:
    """Record that the token was just used."""
    db.session.execute(update(HealthToken).where(HealthToken.id == token_id)
                       .values(last_used_at=utcnow()))


# ---- thresholds -----------------------------------------------------------------------------

def set_threshold(key: str, value: float, *, actor) -> ComplianceSetting:
    """Set compliance threshold ``key`` (one of ``compliance.DEFAULTS``). Raises InvalidInput
    for an unknown key or a negative value."""
    if key not in compliance.DEFAULTS:
        raise InvalidInput(_l("Unknown setting %(k)s.", k=key), fields={"key": _l("Unknown.")})
    if value < 0:
        raise InvalidInput(_l("A threshold cannot be negative."),
                           fields={key: _l("Must be 0 or more.")})
    row = db.session.get(ComplianceSetting, key)
    before = snapshot(row) if row else None
    if row is None:
        row = ComplianceSetting(key=key, value=value, updated_by=_name(actor))
        db.session.add(row)
    else:
        row.value, row.updated_by, row.updated_at = value, _name(actor), utcnow()
    db.session.flush()
    record(actor, "compliance.setting", row, before=before, after=snapshot(row))
    return row
