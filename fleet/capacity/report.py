"""The fleet capacity report: every device with a holder whose workload is recorded, judged by
:func:`~fleet.capacity.operations.device_verdict`, grouped by district, with the phones at risk
and what RAM to buy to bring every holder to ``ok``. Exports reuse the inventory's CSV/XLSX
writers and formula neutralisation (``fleet/inventory/exports.py``).

The district of a device is the level-3 org unit (``ORG_UNIT_LEVELS``: district) at or above
the device's org unit, else above its holder's; devices with neither are grouped under
"no district". Lost, stolen and retired devices carry no workload and are left out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased, contains_eager

from fleet.errors import NotFound
from fleet.extensions import db
from fleet.inventory import exports
from fleet.inventory.models import Device, Holder, OrgUnit

from .coefficients import Coefficients
from .operations import UNKNOWN, DeviceVerdict, active_coefficients, device_verdict

DISTRICT_LEVEL = 3
EXCLUDED_STATUSES = ("lost", "stolen", "retired")
NO_DISTRICT = "(no district)"
EXPORT_KIND = "capacity_report"
EXPORT_COLUMNS = (
    "district", "org_unit", "asset_tag", "model", "ram_mb", "api_level", "storage_gb", "holder",
    "expected_teis", "verdict", "recommended_ram_mb", "reasons",
)


@dataclass(frozen=True)
class ReportRow:
    """One device and its holder with the verdict."""

    device: Device
    holder: Holder
    district: str
    org_unit: str | None
    judged: DeviceVerdict

    @property
    def verdict(self) -> str:
        return self.judged.verdict

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict: device and holder figures as recorded (None when unknown), the
        verdict with its reasons (code, severity, message; their sources are listed once in
        the report's ``reason_sources``), unknown inputs, defaulted workload columns and the
        RAM the holder's workload needs to be ok."""
        d, j = self.device, self.judged
        return {
            "asset_tag": d.asset_tag,
            "model": d.model,
            "ram_mb": d.ram_mb,
            "api_level": d.api_level,
            "storage_gb": d.storage_gb,
            "status": d.status,
            "holder": {"id": self.holder.id, "name": self.holder.name,
                       "expected_teis": self.holder.expected_teis},
            "district": self.district,
            "org_unit": self.org_unit,
            "verdict": j.verdict,
            "reasons": [{"code": r.code, "severity": r.severity, "message": r.message}
                        for r in j.reasons],
            "notes": [r.code for r in j.notes],
            "unknown": [{"field": f, "message": m} for f, m in j.unknown],
            "defaulted": list(j.defaulted),
            "recommended_ram_mb": j.recommended_ram_mb,
            "memory_mb": None if j.memory_mb is None else round(j.memory_mb, 1),
        }


@dataclass
class DistrictGroup:
    """The rows of one district, worst verdict first, and their counts by verdict."""

    name: str
    rows: list[ReportRow] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(r.verdict for r in self.rows)
        return {v: found.get(v, 0) for v in ("ok", "marginal", "insufficient", UNKNOWN)}

    @property
    def at_risk(self) -> int:
        return sum(1 for r in self.rows if r.judged.at_risk)


@dataclass
class FleetReport:
    """The report. ``procurement`` maps RAM (MB) -> phones to buy (one per holder not at ok
    whose workload some purchasable RAM makes ok); ``not_fixable_by_ram`` are rows no RAM makes
    ok (org units not below 250: reduce the assignment); ``unknown`` rows lack RAM, API level
    or a valid workload value; ``without_workload`` counts devices with a holder whose
    workload is not recorded (not judged)."""

    district_filter: str | None
    groups: list[DistrictGroup]
    without_workload: int
    coefficients: Coefficients

    @property
    def rows(self) -> list[ReportRow]:
        return [r for g in self.groups for r in g.rows]

    @property
    def counts(self) -> dict[str, int]:
        total = Counter()
        for g in self.groups:
            total.update(g.counts)
        return {v: total.get(v, 0) for v in ("ok", "marginal", "insufficient", UNKNOWN)}

    @property
    def at_risk(self) -> int:
        return sum(g.at_risk for g in self.groups)

    @property
    def procurement(self) -> list[tuple[int, int]]:
        """``[(ram_mb, phones)]``, smallest RAM first."""
        need = Counter(
            r.judged.recommended_ram_mb
            for r in self.rows
            if r.judged.at_risk and r.judged.recommended_ram_mb is not None
        )
        return sorted(need.items())

    @property
    def not_fixable_by_ram(self) -> list[ReportRow]:
        return [r for r in self.rows if r.judged.at_risk and r.judged.recommended_ram_mb is None]

    @property
    def unknown(self) -> list[ReportRow]:
        return [r for r in self.rows if r.verdict == UNKNOWN]

    @property
    def reason_sources(self) -> dict[str, list[str]]:
        """Sources of every reason and note code found in the report, once each."""
        found: dict[str, list[str]] = {}
        for r in self.rows:
            for reason in (*r.judged.reasons, *r.judged.notes):
                found.setdefault(reason.code, list(reason.sources))
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of the whole report."""
        return {
            "district_filter": self.district_filter,
            "totals": {
                "devices": len(self.rows),
                **self.counts,
                "at_risk": self.at_risk,
                "without_workload": self.without_workload,
            },
            "procurement": [{"ram_mb": ram, "phones": n} for ram, n in self.procurement],
            "not_fixable_by_ram": [r.device.asset_tag for r in self.not_fixable_by_ram],
            "calibrated": self.coefficients.calibrated,
            "coefficients_source": self.coefficients.source,
            "reason_sources": self.reason_sources,
            "districts": [
                {"name": g.name, **g.counts, "at_risk": g.at_risk,
                 "devices": [r.to_dict() for r in g.rows]}
                for g in self.groups
            ],
        }


def _district_of(unit_id: int | None, units: dict[int, OrgUnit]) -> OrgUnit | None:
    seen = 0
    while unit_id is not None and seen < 20:  # levels are 1-10; guard against a cycle
        unit = units.get(unit_id)
        if unit is None:
            return None
        if unit.level == DISTRICT_LEVEL:
            return unit
        if unit.level < DISTRICT_LEVEL:
            return None
        unit_id, seen = unit.parent_id, seen + 1
    return None


def _matches(unit: OrgUnit, ref: str) -> bool:
    ref = ref.strip()
    return unit.name.lower() == ref.lower() or ref in (unit.code, unit.uid)


def fleet_report(
    district: str | None = None, *, coefficients: Coefficients | None = None
) -> FleetReport:
    """Build the report, for every district or the one named by ``district`` (name, code or
    DHIS2 UID, case-insensitive name).

    Raises:
        NotFound: no level-3 org unit matches ``district``.
    """
    units = {u.id: u for u in db.session.scalars(select(OrgUnit))}
    if district and not any(
        u.level == DISTRICT_LEVEL and _matches(u, district) for u in units.values()
    ):
        raise NotFound(_l("No district %(d)s.", d=district), fields={"district": _l("Unknown.")})
    c = active_coefficients() if coefficients is None else coefficients
    live = Device.status.not_in(EXCLUDED_STATUSES)
    stmt = (
        select(Device)
        .join(Holder, Device.holder_id == Holder.id)
        .where(live, Holder.expected_teis.is_not(None))
        .options(contains_eager(Device.holder))
        .order_by(Device.asset_tag)
    )
    if district:  # narrow in SQL to devices or holders under the district; the rule is below
        paths = [u.path for u in units.values()
                 if u.level == DISTRICT_LEVEL and _matches(u, district)]
        device_unit, holder_unit = aliased(OrgUnit), aliased(OrgUnit)
        stmt = (
            stmt.outerjoin(device_unit, Device.org_unit_id == device_unit.id)
            .outerjoin(holder_unit, Holder.org_unit_id == holder_unit.id)
            .where(or_(*[u.path.startswith(p, autoescape=True)
                         for p in paths for u in (device_unit, holder_unit)]))
        )
    groups: dict[str, DistrictGroup] = {}
    without = 0
    for device in db.session.scalars(stmt):
        holder = device.holder
        unit = units.get(device.org_unit_id) or units.get(holder.org_unit_id)
        found = _district_of(device.org_unit_id, units) or _district_of(holder.org_unit_id, units)
        if district and (found is None or not _matches(found, district)):
            continue
        name = found.name if found is not None else NO_DISTRICT
        row = ReportRow(device, holder, name, unit.name if unit else None,
                        device_verdict(device, holder, coefficients=c))
        groups.setdefault(name, DistrictGroup(name)).rows.append(row)
    if not district:
        without = db.session.scalar(
            select(func.count(Device.id))
            .join(Holder, Device.holder_id == Holder.id)
            .where(live, Holder.expected_teis.is_(None))
        ) or 0
    rank = {"insufficient": 0, "marginal": 1, UNKNOWN: 2, "ok": 3}
    for g in groups.values():
        g.rows.sort(key=lambda r: (rank[r.verdict], r.device.asset_tag))
    ordered = sorted(groups.values(), key=lambda g: (g.name == NO_DISTRICT, g.name.lower()))
    return FleetReport(district, ordered, without, c)


# ---- export ------------------------------------------------------------------------------------


def _cell(value):
    return UNKNOWN if value is None else value


def export_rows(report: FleetReport):
    """One list of cells per device, in ``EXPORT_COLUMNS`` order, neutralised against formula
    injection. Unknown RAM, API level or storage is written ``unknown``, never 0."""
    for r in report.rows:
        d, j = r.device, r.judged
        reasons = [x.message for x in j.reasons] or [f"{f}: {m}" for f, m in j.unknown]
        cells = [
            r.district, r.org_unit, d.asset_tag, d.model, _cell(d.ram_mb), _cell(d.api_level),
            _cell(d.storage_gb), r.holder.name, r.holder.expected_teis, j.verdict,
            j.recommended_ram_mb, "; ".join(reasons),
        ]
        yield [exports.neutralise(v) for v in cells]


def export_report(report: FleetReport, fmt: str) -> bytes:
    """The report as ``fmt`` (``csv``: UTF-8 with BOM; ``xlsx``) bytes, one row per device.

    Raises:
        ValueError: ``fmt`` is neither csv nor xlsx.
    """
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"format must be csv or xlsx, got {fmt!r}")
    rows = export_rows(report)
    if fmt == "xlsx":
        return exports.to_xlsx(EXPORT_COLUMNS, rows, title=EXPORT_KIND)
    return exports.to_csv(EXPORT_COLUMNS, rows)
