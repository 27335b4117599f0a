"""Operations behind label printing from inventory rows and the scanner: stock audits by
scanning (expected devices of a district, present / foreign / unknown scans) and quick check-in
and check-out from a scanned label.

Like every operation module: takes ``actor``, flushes, audits, never commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from fleet.agreements.models import OPEN_STATUSES, Agreement
from fleet.audit.operations import record, snapshot
from fleet.errors import IllegalTransition, InvalidInput, NotFound
from fleet.extensions import db
from fleet.inventory import operations as inventory
from fleet.inventory.models import Device, Holder, OrgUnit
from fleet.labels.deviceinfo import (
    DISTRICT_LEVEL,
    devices_with_relations,
    district_of,
    label_info,
    payload_template,
)
from fleet.labels.models import ScanAudit, ScanAuditEntry
from fleet.labels.payload import PayloadError, parse_payload
from fleet.labels.render import LABEL_KINDS, LabelSpec, labels_for_device
from fleet.timeutil import utcnow

#: ``--kinds`` shorthands: "agreement" means both numbered agreement-copy labels.
KIND_ALIASES = {"agreement": ("agreement-district", "agreement-partner")}
#: Devices no stock audit expects to find on the shelf or in the field.
NOT_EXPECTED = ("lost", "stolen", "retired")


def _name(actor) -> str:
    return getattr(actor, "username", None) or "system"


# ---- choosing devices and building labels --------------------------------------------------

def parse_kinds(kinds: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"phone,box,agreement"`` -> label kinds of fleet.labels.render (LABEL_KINDS order kept
    as given). Raises InvalidInput for an unknown kind."""
    if not kinds:
        return LABEL_KINDS
    names = [k.strip() for k in (kinds.split(",") if isinstance(kinds, str) else kinds)]
    out: list[str] = []
    for name in filter(None, names):
        expanded = KIND_ALIASES.get(name, (name,))
        for kind in expanded:
            if kind not in LABEL_KINDS:
                raise InvalidInput(_l("Unknown label kind %(k)s; known: phone, box, agreement, "
                                      "%(all)s.", k=name, all=", ".join(LABEL_KINDS)),
                                   fields={"kinds": _l("Unknown kind.")})
            if kind not in out:
                out.append(kind)
    return tuple(out)


def select_devices(*, tags: Sequence[str] = (), status: str | None = None,
                   district: str | None = None, ids: Sequence[int] = ()) -> list[Device]:
    """Devices to label: by asset tags (in the order given; unknown tags raise NotFound), by
    ids, by status and/or district (asset tag order). Raises InvalidInput when nothing is
    chosen, NotFound for an unknown tag or district."""
    if tags:
        found = {d.asset_tag.upper(): d for d in db.session.scalars(devices_with_relations(
            select(Device).where(func.upper(Device.asset_tag).in_([t.upper() for t in tags]))))}
        missing = [t for t in tags if t.upper() not in found]
        if missing:
            raise NotFound(_l("No device %(t)s.", t=", ".join(missing)))
        return [found[t.upper()] for t in tags]
    if not (status or district or ids):
        raise InvalidInput(_l("Choose devices: asset tags, a status or a district."))
    stmt = devices_with_relations(select(Device))
    if ids:
        stmt = stmt.where(Device.id.in_(list(ids)))
    if status:
        stmt = stmt.where(Device.status == status)
    if district:
        unit = _district(district)
        stmt = stmt.where(Device.org_unit_id.in_(
            select(OrgUnit.id).where(OrgUnit.path.like(unit.path + "%"))))
    return list(db.session.scalars(stmt.order_by(Device.asset_tag)))


def _district(ref: str | int) -> OrgUnit:
    """An org unit by id (int or digits, as the pages' selects send), name, code or UID."""
    if isinstance(ref, str) and ref.strip().isdigit():
        ref = int(ref)
    unit = inventory.resolve_org_unit(ref, field_name="district")
    if unit is None:
        raise NotFound(_l("No district %(d)s.", d=ref))
    return unit


def agreement_numbers(devices: Iterable[Device]) -> dict[int, str]:
    """Number of each device's open agreement, by device id (devices without one are absent)."""
    ids = [d.id for d in devices]
    out: dict[int, str] = {}
    for i in range(0, len(ids), 500):
        out.update(db.session.execute(select(Agreement.device_id, Agreement.number).where(
            Agreement.device_id.in_(ids[i:i + 500]), Agreement.status.in_(OPEN_STATUSES))).all())
    return out


def iter_labels(devices: Sequence[Device], kinds: Sequence[str], *, shorten: bool = True
                ) -> Iterator[LabelSpec]:
    """Label specs for ``devices`` in order, ``kinds`` per device, using the deployment's
    payload template. Too-long free text is shortened with an ellipsis (docs/labels.md);
    a payload that still does not fit raises PayloadTooLarge naming the device."""
    template = payload_template()
    numbers = agreement_numbers(devices)
    districts: dict = {}
    for device in devices:
        info = label_info(device, agreement_number=numbers.get(device.id), districts=districts)
        try:
            yield from labels_for_device(info, template, kinds=kinds, shorten=shorten)
        except PayloadError as exc:
            raise InvalidInput(_l("%(t)s: %(e)s", t=device.asset_tag, e=str(exc))) from exc


# ---- reading a scanned code ----------------------------------------------------------------

def asset_tag_of(text: str) -> str | None:
    """The asset tag in a scanned fleet label, or None when the text is not a fleet label."""
    try:
        return parse_payload(text).get("asset_tag")
    except PayloadError:
        return None


def device_for_scan(text: str) -> Device:
    """The device a scanned label names. Raises InvalidInput (not a fleet label) or NotFound."""
    tag = asset_tag_of(text)
    if tag is None:
        raise InvalidInput(_l("This QR code is not a fleet label."),
                           fields={"text": _l("Not a fleet label.")})
    return inventory.find_device(tag)


# ---- stock audits by scanning ---------------------------------------------------------------

def start_audit(district: str | int, *, actor) -> ScanAudit:
    """Open an audit session for a district (level-3 org unit; a lower unit is audited at the
    level of its district)."""
    unit = _district(district)
    if unit.level > DISTRICT_LEVEL:
        unit = district_of(unit) or unit
    audit = ScanAudit(org_unit=unit, started_by=_name(actor), status="open", notes="")
    db.session.add(audit)
    db.session.flush()
    record(actor, "scan_audit.start", audit, after=snapshot(audit))
    return audit


def get_audit(audit_id: int) -> ScanAudit:
    audit = db.session.get(ScanAudit, audit_id)
    if audit is None:
        raise NotFound(_l("No audit %(n)s.", n=audit_id))
    return audit


def expected_query(audit: ScanAudit):
    """``select(Device)`` of the devices the audit expects: registered in the district or below,
    not lost, stolen or retired."""
    return (devices_with_relations(select(Device))
            .where(Device.org_unit_id.in_(select(OrgUnit.id).where(
                OrgUnit.path.like(audit.org_unit.path + "%"))),
                   Device.status.not_in(NOT_EXPECTED))
            .order_by(Device.asset_tag))


def record_scan(audit: ScanAudit, text: str, *, actor) -> tuple[ScanAuditEntry, bool]:
    """Record one scanned code. Returns ``(entry, new)``: scanning the same device or the same
    unknown code again returns the first entry with ``new=False`` (nothing written).

    Outcome: ``present`` (expected device), ``foreign`` (a fleet device registered elsewhere or
    not expected), ``unknown`` (a fleet label whose asset tag is not registered),
    ``not_fleet`` (any other QR code). Raises IllegalTransition when the audit is closed."""
    if audit.status != "open":
        raise IllegalTransition(_l("Audit %(n)s is closed.", n=audit.id))
    text = (text or "").strip()
    if not text:
        raise InvalidInput(_l("Empty scan."), fields={"text": _l("Required.")})
    text = text[:400]
    tag = asset_tag_of(text)
    device = None
    if tag is not None and len(tag) > 40:  # longer than any asset tag fleet stores
        tag = tag[:39] + "…"
    elif tag is not None:
        device = db.session.scalar(
            select(Device).where(func.upper(Device.asset_tag) == tag.upper()))
    if device is not None:
        existing = db.session.scalar(select(ScanAuditEntry).where(
            ScanAuditEntry.audit_id == audit.id, ScanAuditEntry.device_id == device.id))
    else:
        existing = db.session.scalar(select(ScanAuditEntry).where(
            ScanAuditEntry.audit_id == audit.id, ScanAuditEntry.raw == text))
    if existing is not None:
        return existing, False
    if device is not None:
        expected = db.session.scalar(expected_query(audit).where(Device.id == device.id))
        outcome = "present" if expected is not None else "foreign"
    else:
        outcome = "unknown" if tag is not None else "not_fleet"
    entry = ScanAuditEntry(audit=audit, raw=text, asset_tag=tag, device=device, outcome=outcome,
                           by=_name(actor))
    db.session.add(entry)
    db.session.flush()
    record(actor, f"scan_audit.{outcome}", entry, after=snapshot(entry))
    return entry, True


def audit_summary(audit: ScanAudit) -> dict:
    """Counts and lists: ``expected`` (int), ``present`` / ``missing`` (lists of devices),
    ``foreign``, ``unknown``, ``not_fleet`` (lists of entries)."""
    expected = list(db.session.scalars(expected_query(audit)))
    seen = {e.device_id for e in audit.entries if e.outcome == "present"}
    by_outcome: dict[str, list[ScanAuditEntry]] = {k: [] for k in
                                                    ("present", "foreign", "unknown", "not_fleet")}
    for entry in audit.entries:
        by_outcome[entry.outcome].append(entry)
    return {
        "expected": len(expected),
        "present": [d for d in expected if d.id in seen],
        "missing": [d for d in expected if d.id not in seen],
        "foreign": by_outcome["foreign"],
        "unknown": by_outcome["unknown"],
        "not_fleet": by_outcome["not_fleet"],
    }


def close_audit(audit: ScanAudit, *, actor, notes: str = "") -> ScanAudit:
    if audit.status != "open":
        raise IllegalTransition(_l("Audit %(n)s is already closed.", n=audit.id))
    before = snapshot(audit)
    audit.status, audit.closed_at, audit.closed_by = "closed", utcnow(), _name(actor)
    audit.notes = notes or ""
    db.session.flush()
    record(actor, "scan_audit.close", audit, before=before, after=snapshot(audit))
    return audit


# ---- quick check-in / check-out -------------------------------------------------------------

def scan_checkout(text: str, holder_id: int, *, actor, condition: str | None = None):
    """Check the scanned device out to a holder (fleet.inventory.operations.checkout)."""
    device = device_for_scan(text)
    holder = db.session.get(Holder, holder_id)
    if holder is None:
        raise NotFound(_l("No holder %(h)s.", h=holder_id))
    return inventory.checkout(device, holder, actor=actor, condition=condition)


def scan_checkin(text: str, *, actor, condition: str | None = None, status: str = "returned"):
    """Check the scanned device back in (fleet.inventory.operations.checkin)."""
    if status not in ("returned", "in_repair"):
        raise InvalidInput(_l("Status must be returned or in_repair."))
    return inventory.checkin(device_for_scan(text), actor=actor, condition=condition,
                             status=status)


def holders_for_picker(q: str | None = None, limit: int = 50) -> list[Holder]:
    stmt = select(Holder).where(Holder.active.is_(True))
    if q:
        stmt = stmt.where(or_(func.lower(Holder.name).contains(q.lower(), autoescape=True),
                              Holder.msisdn.startswith(q, autoescape=True)))
    return list(db.session.scalars(stmt.order_by(Holder.name).limit(limit)))


def label_fonts():
    """FontSet from LABEL_FONT / LABEL_FONT_BOLD (paths to .ttf files), else None (DejaVu)."""
    from flask import current_app

    from fleet.labels.fonts import FontSet

    regular = current_app.config.get("LABEL_FONT")
    if not regular:
        return None
    from pathlib import Path

    bold = current_app.config.get("LABEL_FONT_BOLD") or regular
    return FontSet(regular=Path(regular), bold=Path(bold))


def print_labels(devices: Sequence[Device], fmt: str, *, kinds=None, dpi: int = 300,
                 start_offset: int = 0, progress=None, actor=None) -> bytes:
    """Render the labels of ``devices`` (``kinds`` per device) as ``fmt`` (a4-l7160,
    letter-5160: PDF bytes; thermal-62mm, thermal-50x25: ZIP of PNGs at ``dpi`` 203 or 300).

    ``progress(n)`` is called with the number of devices done so far. Raises InvalidInput for
    bad formats, offsets, kinds or oversized payloads (messages from fleet.labels)."""
    from fleet.labels.render import LabelRenderError, render_labels

    kinds = parse_kinds(kinds)
    if not devices:
        raise InvalidInput(_l("No devices match; nothing to print."))

    def counted():
        per = len(kinds)
        for i, spec in enumerate(iter_labels(devices, kinds)):
            yield spec
            if progress is not None and (i + 1) % per == 0:
                progress((i + 1) // per)

    try:
        data = render_labels(counted(), fmt, dpi=dpi, start_offset=start_offset,
                             fonts=label_fonts())
    except (LabelRenderError, PayloadError) as exc:
        raise InvalidInput(str(exc)) from exc
    log_device = devices[0]
    record(actor, "labels.print", log_device,
           after={"format": fmt, "devices": len(devices), "kinds": list(kinds),
                  "tags": [d.asset_tag for d in devices[:200]]},
           label=f"{len(devices)} devices")
    return data
