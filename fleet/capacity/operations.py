"""The capacity model applied to inventory rows: one device, one holder, one verdict.

:func:`device_verdict` is the one function the fleet report, provisioning's pre-flight check
(issue 7) and compliance (issue 8) call, so all three judge a phone the same way. It reads the
holder's recorded workload (``Holder.expected_teis`` ... ``reserved_values``) and the device's
``ram_mb``, ``api_level`` and ``storage_gb``, and never guesses a device figure: an unknown RAM or
API level gives the verdict ``unknown``, never a zero.

Calibration hooks for issue 8: :func:`calibration_points` turns ``(holder, app_pss_mb)`` readings
into the points :func:`fleet.capacity.calibration.fit` takes; :func:`current_calibration` and
:func:`active_coefficients` are what the pages, API, CLI and report use, so a calibration, once
the fleet has health reports, reaches all of them at once.

Nothing here changes the database; there is nothing to audit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select

from fleet.extensions import db
from fleet.inventory.models import Device
from fleet.reports.models import DeviceHealth, HealthReport

from .calibration import Calibration, coefficients_from, fit
from .coefficients import DEFAULT, Coefficients
from .inputs import CapacityInputError, DeviceSpec, Workload
from .model import estimate, judge, ram_recommendation
from .results import Estimate, RamRecommendation, Reason

UNKNOWN = "unknown"
#: Verdicts of :class:`DeviceVerdict`, best first; ``unknown`` when a needed input is missing.
VERDICTS = ("ok", "marginal", "insufficient", UNKNOWN)

#: Holder column -> Workload field. A column left empty takes the Workload default.
HOLDER_WORKLOAD_FIELDS = {
    "expected_teis": "teis",
    "events_per_tei": "events_per_tei",
    "attributes_per_tei": "attributes_per_tei",
    "capture_org_units": "capture_org_units",
    "search_org_units": "search_org_units",
    "programs": "programs",
    "program_rules": "program_rules",
    "largest_option_set": "option_set_size",
    "reserved_values": "reserved_values",
}
#: Minimum usable (holder, PSS) points before the memory coefficients are fitted.
MIN_CALIBRATION_POINTS = 20


def encrypt_db_setting() -> bool:
    """Whether the DHIS2 server runs with ``generalSettings.encryptDB`` on (server-wide), from
    the ``CAPACITY_ENCRYPT_DB`` setting (env ``FLEET_CAPACITY_ENCRYPT_DB``); False outside an
    app context or when unset."""
    if not has_app_context():
        return False
    return bool(current_app.config.get("CAPACITY_ENCRYPT_DB", False))


def workload_of(holder, *, encrypt_db: bool | None = None) -> tuple[Workload, tuple[str, ...]]:
    """The :class:`Workload` recorded for ``holder`` (a ``fleet.inventory.models.Holder``).

    Returns ``(workload, defaulted)``: ``defaulted`` names the holder columns left empty, for
    which the model's default was used (e.g. 3 events per TEI). ``encrypt_db`` None means
    :func:`encrypt_db_setting`.

    Raises:
        CapacityInputError: ``expected_teis`` is not recorded (field ``expected_teis``) or a
            recorded value is out of the model's range (field named by the holder column).
    """
    if holder is None or holder.expected_teis is None:
        raise CapacityInputError("expected_teis", "no offline workload recorded for the holder")
    recorded = tuple(getattr(holder, column) for column in HOLDER_WORKLOAD_FIELDS)
    encrypt = encrypt_db_setting() if encrypt_db is None else encrypt_db
    return _workload(recorded, encrypt)


@lru_cache(maxsize=16384)  # a campaign repeats a handful of workloads over many holders
def _workload(recorded: tuple, encrypt_db: bool) -> tuple[Workload, tuple[str, ...]]:
    values: dict[str, Any] = {"encrypt_db": encrypt_db}
    defaulted = []
    for (column, name), value in zip(HOLDER_WORKLOAD_FIELDS.items(), recorded, strict=True):
        if value is None:
            defaulted.append(column)
        else:
            values[name] = value
    try:
        return Workload(**values), tuple(defaulted)
    except CapacityInputError as exc:
        column = {v: k for k, v in HOLDER_WORKLOAD_FIELDS.items()}.get(exc.field, exc.field)
        raise CapacityInputError(column, exc.message) from exc


def device_spec_of(
    device, *, free_storage_mb: float | None = None, form_factor: str = "phone"
) -> DeviceSpec:
    """The :class:`DeviceSpec` of ``device`` (a ``fleet.inventory.models.Device``): its nominal
    ``ram_mb``, ``api_level`` and ``storage_gb`` x 1024 as total storage (MB). Free storage is
    not in the inventory: pass ``free_storage_mb`` when known (provisioning reads ``df``,
    health reports carry it), else it is not judged. The inventory has no form factor, so
    ``form_factor`` defaults to ``phone``.

    Raises:
        CapacityInputError: RAM or API level not recorded, or a value out of range (the field
            is the device column: ``ram_mb``, ``api_level``, ``storage_gb``).
    """
    if device.ram_mb is None:
        raise CapacityInputError("ram_mb", "RAM not recorded for the device")
    if device.api_level is None:
        raise CapacityInputError("api_level", "Android API level not recorded for the device")
    total = None if device.storage_gb is None else device.storage_gb * 1024
    return _device_spec(device.ram_mb, device.api_level, free_storage_mb, form_factor, total)


@lru_cache(maxsize=4096)  # a fleet has few distinct (RAM, API level, storage) combinations
def _device_spec(ram_mb, api_level, free_storage_mb, form_factor, total_storage_mb) -> DeviceSpec:
    try:
        return DeviceSpec(
            ram_mb=ram_mb,
            api_level=api_level,
            free_storage_mb=free_storage_mb,
            form_factor=form_factor,
            total_storage_mb=total_storage_mb,
        )
    except CapacityInputError as exc:
        field = "storage_gb" if exc.field == "total_storage_mb" else exc.field
        raise CapacityInputError(field, exc.message) from exc


@lru_cache(maxsize=16384)
def _judge(spec: DeviceSpec, workload: Workload, c: Coefficients):
    return judge(spec, workload, c)


@dataclass(frozen=True)
class DeviceVerdict:
    """What :func:`device_verdict` found.

    ``verdict`` is ``ok``, ``marginal``, ``insufficient`` or ``unknown``; ``unknown`` lists
    ``(field, message)`` pairs for the inputs that were missing or out of range (then
    ``reasons`` is empty). ``reasons`` drove the verdict, ``notes`` did not (each cites its
    sources). ``defaulted`` names holder workload columns left empty (model default used).
    ``recommendation`` is the smallest purchasable RAM for the holder's workload (None when no
    workload is recorded). ``device`` / ``workload`` are the model inputs when they could be
    built."""

    verdict: str
    reasons: tuple[Reason, ...]
    notes: tuple[Reason, ...]
    unknown: tuple[tuple[str, str], ...]
    defaulted: tuple[str, ...]
    device: DeviceSpec | None
    workload: Workload | None
    recommendation: RamRecommendation | None
    memory_mb: float | None = None
    memory_ok_limit_mb: float | None = None

    @property
    def at_risk(self) -> bool:
        """True for ``marginal`` and ``insufficient``."""
        return self.verdict in ("marginal", "insufficient")

    @property
    def recommended_ram_mb(self) -> int | None:
        """The recommended RAM (MB) when it makes the workload ok, else None."""
        rec = self.recommendation
        return rec.ram_mb if rec is not None and rec.yields_ok else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (MB rounded to 0.1)."""
        return {
            "verdict": self.verdict,
            "reasons": [r.to_dict() for r in self.reasons],
            "notes": [r.to_dict() for r in self.notes],
            "unknown": [{"field": f, "message": m} for f, m in self.unknown],
            "defaulted": list(self.defaulted),
            "recommended_ram_mb": self.recommended_ram_mb,
            "recommendation": (
                None if self.recommendation is None else self.recommendation.to_dict()
            ),
            "memory_mb": None if self.memory_mb is None else round(self.memory_mb, 1),
            "memory_ok_limit_mb": (
                None if self.memory_ok_limit_mb is None else round(self.memory_ok_limit_mb, 1)
            ),
        }


def device_verdict(
    device,
    holder,
    *,
    free_storage_mb: float | None = None,
    form_factor: str = "phone",
    encrypt_db: bool | None = None,
    coefficients: Coefficients | None = None,
) -> DeviceVerdict:
    """Judge whether ``device`` (inventory Device) carries ``holder``'s (inventory Holder, or
    None) recorded offline workload, with the capacity model's rules (``fleet/capacity/model.py``).

    Used by the fleet report, provisioning pre-flight (issue 7) and compliance (issue 8).
    ``free_storage_mb`` (MB free on /data) when the caller has read it; ``encrypt_db`` None means
    the ``CAPACITY_ENCRYPT_DB`` setting; ``coefficients`` None means :func:`active_coefficients`.
    Never raises for missing or out-of-range inventory values: those give ``unknown`` with the
    field and message. Inputs, verdicts and RAM recommendations are memoised (all frozen), so
    a fleet that repeats a few workloads and device models pays a few microseconds a device.
    """
    unknown: list[tuple[str, str]] = []
    spec = workload = recommendation = None
    defaulted: tuple[str, ...] = ()
    try:
        spec = device_spec_of(device, free_storage_mb=free_storage_mb, form_factor=form_factor)
    except CapacityInputError as exc:
        unknown.append((exc.field, exc.message))
    try:
        workload, defaulted = workload_of(holder, encrypt_db=encrypt_db)
    except CapacityInputError as exc:
        unknown.append((exc.field, exc.message))
    c = active_coefficients() if coefficients is None else coefficients
    if workload is not None:
        recommendation = ram_recommendation(workload, form_factor=form_factor, coefficients=c)
    if unknown:
        return DeviceVerdict(UNKNOWN, (), (), tuple(unknown), defaulted, spec, workload,
                             recommendation)
    j = _judge(spec, workload, c)
    return DeviceVerdict(
        j.verdict.value, j.reasons, j.notes, (), defaulted, spec, workload, recommendation,
        j.memory.total_mb, j.ok_limit_mb,
    )


def estimate_from_fields(values: dict[str, Any]) -> Estimate:
    """:func:`~fleet.capacity.model.estimate` on a flat mapping of DeviceSpec and Workload
    fields (``ram_mb``, ``api_level``, ``teis`` ...; None or absent means the default), with
    :func:`active_coefficients`. The API, the calculator page and the CLI all go through it.

    Raises:
        CapacityInputError: a field missing, unknown or out of range.
    """
    device_names = {f.name for f in fields(DeviceSpec)}
    workload_names = {f.name for f in fields(Workload)}
    for key in values:
        if key not in device_names | workload_names:
            raise CapacityInputError(str(key), "is not a known field")

    def pick(names: set[str]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if k in names and v is not None}

    device = DeviceSpec.from_mapping(pick(device_names))
    workload = Workload.from_mapping(pick(workload_names))
    return estimate(device, workload, active_coefficients())


# ---- calibration -------------------------------------------------------------------------------


def calibration_points(
    readings: Iterable[tuple[Any, float]],
) -> list[tuple[float, float, float]]:
    """Calibration points ``[(teis, events_per_tei, app_pss_mb)]`` from ``readings``: pairs of
    (inventory Holder of the device that reported, the Capture app's memory in MB, i.e. the
    ``TOTAL PSS`` of ``dumpsys meminfo com.dhis2`` in kB / 1024).

    A holder without ``expected_teis`` gives no point; an empty ``events_per_tei`` takes the
    model's default (3), as the report does. Values are passed on unchecked:
    :func:`fleet.capacity.calibration.fit` rejects and counts the bad ones."""
    default_events = Workload(teis=0).events_per_tei
    points = []
    for holder, pss_mb in readings:
        if holder is None or holder.expected_teis is None:
            continue
        events = holder.events_per_tei if holder.events_per_tei is not None else default_events
        points.append((holder.expected_teis, events, pss_mb))
    return points


def app_pss_readings() -> list[tuple[Any, float]] | None:
    """``(holder, app_pss_mb)`` readings from the fleet's health reports (the Capture app's
    TOTAL PSS from ``dumpsys meminfo com.dhis2``, latest report per device, devices with a
    holder only), or None when there are none yet.

    Reads the health tables (``fleet.reports.models``) directly: reports' compliance calls
    :func:`device_verdict`, so capacity uses reports' models, never its operations."""
    rows = db.session.execute(
        select(Device, HealthReport.app_pss_mb)
        .join(DeviceHealth, DeviceHealth.device_id == Device.id)
        .join(HealthReport, HealthReport.id == DeviceHealth.last_report_id)
        .where(HealthReport.app_pss_mb.is_not(None), Device.holder_id.is_not(None))
    ).all()
    return [(device.holder, pss) for device, pss in rows] or None


@dataclass(frozen=True)
class CalibrationStatus:
    """The calibration in force: ``calibration`` (the fit, or why there is none),
    ``readings`` (health readings seen, None when fleet collects none yet), ``points``
    (readings whose holder has a recorded TEI count), ``coefficients`` in use, and ``source``,
    a sentence saying where the memory figures come from."""

    calibration: Calibration
    readings: int | None
    points: int
    coefficients: Coefficients
    source: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return {
            "calibrated": self.calibration.calibrated,
            "explanation": self.source,
            "health_readings": self.readings,
            "points_with_workload": self.points,
            "fit": self.calibration.to_dict(),
            "coefficients": self.coefficients.to_dict(),
        }


def current_calibration(
    readings: Iterable[tuple[Any, float]] | None = None, *, encrypted: bool | None = None
) -> CalibrationStatus:
    """Fit the memory coefficients to ``readings`` (see :func:`calibration_points`; None means
    :func:`app_pss_readings`). Needs ``MIN_CALIBRATION_POINTS`` usable points; below that, or
    while there are no health reports at all, the defaults stay in use and ``source`` says
    why. ``encrypted`` None means :func:`encrypt_db_setting`."""
    if readings is None:
        readings = app_pss_readings()
    encrypted = encrypt_db_setting() if encrypted is None else encrypted
    if readings is None:
        calibration = fit([], MIN_CALIBRATION_POINTS, encrypted=encrypted)
        source = (
            "Uncalibrated: the memory figures are fleet's default assumptions. No published "
            "measurement ties the Capture app's RAM use to a TEI count, and this fleet has no "
            "health reports with the app's memory (dumpsys meminfo com.dhis2) yet to fit them to."
        )
        return CalibrationStatus(calibration, None, 0, DEFAULT, source)
    readings = list(readings)
    points = calibration_points(readings)
    calibration = fit(points, MIN_CALIBRATION_POINTS, encrypted=encrypted)
    return CalibrationStatus(
        calibration, len(readings), len(points), coefficients_from(calibration),
        calibration.explain(),
    )


def active_coefficients() -> Coefficients:
    """The coefficients every estimate uses: the fleet's calibration when there is one, else
    the defaults (``coefficients.DEFAULT``, marked uncalibrated)."""
    if app_pss_readings() is None:  # nothing to fit: skip the work
        return DEFAULT
    return current_calibration().coefficients
