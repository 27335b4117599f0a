"""Plain functions the scheduler runs (``fleet/jobs.py`` registers them). Each returns a short
message for the job-run row; the wrapper in ``fleet/jobs.py`` commits or rolls back."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from fleet.extensions import db
from fleet.inventory.models import Sim
from fleet.reports import operations as ops
from fleet.reports.models import DeviceHealth
from fleet.timeutil import utcnow

log = logging.getLogger(__name__)

try:  # provisioning stations (issue 7); imported here so every mapper exists before jobs run
    from fleet.provisioning.models import Station
except ImportError:  # pragma: no cover - only before issue 7 lands
    Station = None

try:  # issue 3's agreement follow-up list
    from fleet.agreements.operations import stuck_query
except ImportError:  # pragma: no cover - only before issue 3 lands
    stuck_query = None


def stations() -> list:
    """Stations to pull from: the provisioning domain's Station rows when that model exists,
    else one local station for the adb server at config HEALTH_ADB_HOST:HEALTH_ADB_PORT."""
    from fleet.provisioning.stations import StationSpec

    if Station is not None:
        rows = list(db.session.scalars(select(Station)))
        if rows:
            return rows
    cfg = current_app.config
    return [StationSpec(name="local", kind="local",
                        adb_host=cfg.get("HEALTH_ADB_HOST", "127.0.0.1"),
                        adb_port=int(cfg.get("HEALTH_ADB_PORT", 5037)))]


def store_pulled(data: dict, raw: dict) -> str:
    """Store one pulled report (the ``store`` callback of ``pull_client``); returns the asset
    tag. Raises NotFound for a phone not in the inventory."""
    device = ops.device_for_pull(data)
    ops.record_report(device, data, source="pull", raw=raw)
    return device.asset_tag


def pull_station(station, serials=None):
    """Pull every connected phone of ``station``; returns the PullOutcome."""
    from fleet.provisioning.stations import open_station
    from fleet.reports.pull import pull_client

    packages = current_app.config.get("HEALTH_TRACKED_PACKAGES", ["com.dhis2"])
    with open_station(station) as client:
        return pull_client(client, station=station.name, serials=serials,
                           tracked_packages=packages, store=store_pulled,
                           workers=int(current_app.config.get("HEALTH_PULL_WORKERS", 8)))


def health_pull() -> str:
    """Job ``health_pull``: pull each station in turn; a station that cannot be reached is
    reported in the message and does not stop the others. Raises RuntimeError when every
    station failed (the run is then recorded as a failure)."""
    parts, failures, all_stations = [], 0, stations()
    for station in all_stations:
        try:
            outcome = pull_station(station)
            db.session.commit()
            parts.append(outcome.summary())
        except Exception as exc:  # noqa: BLE001 - a station down is an outcome, not a crash
            db.session.rollback()
            failures += 1
            parts.append(f"station {station.name}: {exc}")
    message = "; ".join(parts)
    if all_stations and failures == len(all_stations):
        raise RuntimeError(message)
    return message


def stale_devices() -> str:
    """Job ``stale_devices``: re-run compliance for every device (staleness grows with time
    alone) and count the stale ones."""
    count = ops.refresh_all()
    days = float(ops.compliance.settings()["stale_days"])
    cutoff = utcnow() - timedelta(days=days)
    stale = db.session.scalar(select(func.count()).select_from(DeviceHealth).where(
        DeviceHealth.last_seen_at < cutoff)) or 0
    return f"{count} device(s) checked, {stale} without a report for {days:g} days"


def sim_bundles_expiring() -> str:
    """Job ``sim_bundles_expiring``: active SIMs whose data bundle expires within config
    SIM_BUNDLE_WARN_DAYS (default 7) days, soonest first."""
    days = int(current_app.config.get("SIM_BUNDLE_WARN_DAYS", 7))
    today = utcnow().date()
    rows = db.session.scalars(select(Sim).where(
        Sim.status == "active", Sim.bundle_expires_on.is_not(None),
        Sim.bundle_expires_on <= today + timedelta(days=days))
        .order_by(Sim.bundle_expires_on)).all()
    for sim in rows[:50]:
        log.info("SIM %s bundle expires on %s", sim.iccid, sim.bundle_expires_on)
    listed = ", ".join(f"{s.iccid} ({s.bundle_expires_on})" for s in rows[:10])
    return f"{len(rows)} SIM bundle(s) expiring within {days} days" + (
        f": {listed}" if listed else "")


def agreements_stuck() -> str:
    """Job ``agreements_stuck``: agreements waiting at one step for longer than config
    AGREEMENT_STUCK_DAYS (issue 3's ``stuck_query``)."""
    if stuck_query is None:
        return "agreements domain not installed: skipped"
    rows = db.session.scalars(stuck_query().limit(1000)).all()
    listed = ", ".join(f"#{getattr(a, 'number', a.id)} ({a.status})" for a in rows[:10])
    return f"{len(rows)} agreement(s) stuck at a step" + (f": {listed}" if listed else "")
