"""Inventory operations: the only place inventory state changes. Each takes the acting user
(``actor``), flushes, writes the audit trail, and never commits (the caller does).

Errors: :class:`fleet.errors.InvalidInput` (422) for bad values, :class:`Conflict` (409) for
uniqueness, :class:`IllegalTransition` (409) for lifecycle moves the state machine refuses,
:class:`NotFound` (404).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from fleet.audit.models import AuditEntry
from fleet.audit.operations import record, snapshot
from fleet.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from fleet.extensions import db
from fleet.inventory.models import (
    CHECKOUT_FROM,
    DEVICE_TRANSITIONS,
    WORKLOAD_COLUMNS,
    Counter,
    Custody,
    Device,
    Holder,
    OrgUnit,
    Sim,
    SimPairing,
)
from fleet.timeutil import utcnow

log = logging.getLogger(__name__)


def _actor_name(actor) -> str:
    return getattr(actor, "username", None) or "system"


# ---- org units -----------------------------------------------------------------------------


def resolve_org_unit(ref: str | int | None, *, field_name: str = "org_unit") -> OrgUnit | None:
    """Find an org unit by id, DHIS2 UID, code or name (case-insensitive). None for None.

    Raises InvalidInput naming ``field_name`` when none or several match."""
    if ref is None or ref == "":
        return None
    if isinstance(ref, int):
        unit = db.session.get(OrgUnit, ref)
        if unit is None:
            raise InvalidInput(
                _l("Unknown org unit."), fields={field_name: _l("Unknown org unit.")}
            )
        return unit
    ref = str(ref).strip()
    units = db.session.scalars(
        select(OrgUnit)
        .where(
            or_(OrgUnit.uid == ref, OrgUnit.code == ref, func.lower(OrgUnit.name) == ref.lower())
        )
        .limit(5)
    ).all()
    exact = [u for u in units if u.uid == ref or u.code == ref]
    if len(exact) == 1:
        return exact[0]
    if len(units) == 1:
        return units[0]
    msg = (
        _l("Unknown org unit %(r)s.", r=ref)
        if not units
        else _l("Several org units are called %(r)s; use its code or UID.", r=ref)
    )
    raise InvalidInput(msg, fields={field_name: msg})


def create_org_unit(data: dict, *, actor) -> OrgUnit:
    """Create an org unit. ``data`` is OrgUnitCreateArgs output. Level defaults to the
    parent's level + 1 (1 without a parent)."""
    parent = None
    if data.get("parent_id") is not None:
        parent = resolve_org_unit(int(data["parent_id"]), field_name="parent_id")
    elif data.get("parent"):
        parent = resolve_org_unit(data["parent"], field_name="parent")
    level = data.get("level") or (parent.level + 1 if parent else 1)
    if parent and level <= parent.level:
        raise InvalidInput(
            _l("A child org unit must be below its parent's level."),
            fields={"level": _l("Must be below the parent's level.")},
        )
    if data.get("uid") and db.session.scalar(select(OrgUnit.id).where(OrgUnit.uid == data["uid"])):
        raise Conflict(
            _l("UID %(u)s is already used.", u=data["uid"]), fields={"uid": _l("Taken.")}
        )
    unit = OrgUnit(
        name=data["name"], uid=data.get("uid"), code=data.get("code"), level=level, parent=parent
    )
    db.session.add(unit)
    db.session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    db.session.flush()
    record(actor, "org_unit.create", unit, after=snapshot(unit))
    return unit


def org_unit_subtree_clause(unit: OrgUnit):
    """A WHERE clause on OrgUnit for ``unit`` and everything below it."""
    return OrgUnit.path.like(unit.path + "%")


# ---- holders -------------------------------------------------------------------------------

HOLDER_COLUMNS = (
    "name",
    "role",
    "msisdn",
    "dhis2_username",
    "national_id",
    "notes",
    *WORKLOAD_COLUMNS,
    "active",
)


def _apply_holder(holder: Holder, data: dict) -> None:
    for key in HOLDER_COLUMNS:
        if key in data:
            value = data[key]
            setattr(holder, key, "" if key == "notes" and value is None else value)
    if "org_unit_id" in data or "org_unit" in data:
        ref = (
            data.get("org_unit_id") if data.get("org_unit_id") is not None else data.get("org_unit")
        )
        holder.org_unit = resolve_org_unit(ref)
    if holder.dhis2_username:
        clash = db.session.scalar(
            select(Holder.id).where(
                Holder.dhis2_username == holder.dhis2_username, Holder.id != (holder.id or 0)
            )
        )
        if clash:
            raise Conflict(
                _l("DHIS2 username %(u)s belongs to another holder.", u=holder.dhis2_username),
                fields={"dhis2_username": _l("Taken.")},
            )


def create_holder(data: dict, *, actor) -> Holder:
    """Create a holder (campaign worker, supervisor...) from HolderCreateArgs output."""
    holder = Holder(role="campaign_worker", notes="", active=True)
    _apply_holder(holder, data)
    db.session.add(holder)
    db.session.flush()
    record(actor, "holder.create", holder, after=snapshot(holder))
    return holder


def update_holder(holder: Holder, data: dict, *, actor) -> Holder:
    """Change a holder's fields (HolderUpdateArgs output)."""
    before = snapshot(holder)
    _apply_holder(holder, data)
    db.session.flush()
    record(actor, "holder.update", holder, before=before, after=snapshot(holder))
    return holder


# ---- devices -------------------------------------------------------------------------------

DEVICE_COLUMNS = (
    "asset_tag",
    "box_number",
    "serial",
    "imei",
    "imei2",
    "manufacturer",
    "model",
    "android_version",
    "api_level",
    "ram_mb",
    "storage_gb",
    "ownership",
    "status",
    "notes",
)


def next_asset_tags(count: int = 1) -> list[str]:
    """Reserve ``count`` generated asset tags (``PH-000123`` style: config ASSET_TAG_PREFIX and
    ASSET_TAG_WIDTH) from the ``asset_tag`` counter, skipping tags already taken."""
    prefix = current_app.config["ASSET_TAG_PREFIX"]
    width = int(current_app.config["ASSET_TAG_WIDTH"])
    tags: list[str] = []
    while len(tags) < count:
        need = count - len(tags)
        if db.session.get(Counter, "asset_tag") is None:
            db.session.add(Counter(name="asset_tag", value=0))
            db.session.flush()
        end = db.session.execute(
            update(Counter)
            .where(Counter.name == "asset_tag")
            .values(value=Counter.value + need)
            .returning(Counter.value)
        ).scalar_one()
        candidates = [f"{prefix}{n:0{width}d}" for n in range(end - need + 1, end + 1)]
        taken = set()
        for i in range(0, len(candidates), 500):
            taken.update(
                db.session.scalars(
                    select(Device.asset_tag).where(Device.asset_tag.in_(candidates[i : i + 500]))
                )
            )
        tags.extend(t for t in candidates if t not in taken)
    return tags


@dataclass
class DeviceChecker:
    """Checks device rows against the database and against each other (for imports).

    ``known_*`` hold values already registered; ``seen_*`` map values met earlier in the same
    batch to their row number. ``check`` raises InvalidInput/Conflict with the field at fault.
    """

    known_tags: set = field(default_factory=set)
    known_imeis: set = field(default_factory=set)
    seen_tags: dict = field(default_factory=dict)
    seen_imeis: dict = field(default_factory=dict)
    org_units: dict = field(default_factory=dict)

    @classmethod
    def for_rows(cls, rows: list[dict]) -> DeviceChecker:
        tags = {r["asset_tag"] for r in rows if r.get("asset_tag")}
        imeis = {r[k] for r in rows for k in ("imei", "imei2") if r.get(k)}
        checker = cls()
        for chunk in _chunks(sorted(tags)):
            checker.known_tags.update(
                db.session.scalars(select(Device.asset_tag).where(Device.asset_tag.in_(chunk)))
            )
        for chunk in _chunks(sorted(imeis)):
            for a, b in db.session.execute(
                select(Device.imei, Device.imei2).where(
                    or_(Device.imei.in_(chunk), Device.imei2.in_(chunk))
                )
            ):
                checker.known_imeis.update(v for v in (a, b) if v)
        return checker

    def org_unit(self, ref) -> OrgUnit | None:
        if ref is None:
            return None
        if ref not in self.org_units:
            self.org_units[ref] = resolve_org_unit(ref)
        return self.org_units[ref]

    def check(self, data: dict, row: int | None = None) -> None:
        tag = data.get("asset_tag")
        if tag:
            if tag in self.known_tags:
                raise Conflict(
                    _l("Asset tag %(t)s is already registered.", t=tag),
                    fields={"asset_tag": _l("Already registered.")},
                )
            if tag in self.seen_tags:
                raise Conflict(
                    _l("Asset tag %(t)s is also in row %(r)s.", t=tag, r=self.seen_tags[tag]),
                    fields={"asset_tag": _l("Duplicate in file.")},
                )
        for key in ("imei", "imei2"):
            value = data.get(key)
            if not value:
                continue
            if value in self.known_imeis:
                raise Conflict(
                    _l("IMEI %(i)s is already registered.", i=value),
                    fields={key: _l("Already registered.")},
                )
            if value in self.seen_imeis:
                raise Conflict(
                    _l("IMEI %(i)s is also in row %(r)s.", i=value, r=self.seen_imeis[value]),
                    fields={key: _l("Duplicate in file.")},
                )
        ref = (
            data.get("org_unit_id") if data.get("org_unit_id") is not None else data.get("org_unit")
        )
        self.org_unit(ref)
        if tag:
            self.seen_tags[tag] = row
        for key in ("imei", "imei2"):
            if data.get(key):
                self.seen_imeis[data[key]] = row


def _chunks(values, size: int = 500):
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _device_values(data: dict, checker: DeviceChecker) -> dict:
    values = {k: data.get(k) for k in DEVICE_COLUMNS}  # every key: bulk inserts need the same
    values["notes"] = values["notes"] or ""
    values["manufacturer"] = values["manufacturer"] or ""
    values["model"] = values["model"] or ""
    values["ownership"] = values["ownership"] or "institution"
    values["status"] = values["status"] or "in_stock"
    ref = data.get("org_unit_id") if data.get("org_unit_id") is not None else data.get("org_unit")
    unit = checker.org_unit(ref)
    values["org_unit_id"] = unit.id if unit else None
    return values


def register_device(data: dict, *, actor) -> Device:
    """Register one device from DeviceCreateArgs output; generates the asset tag when absent.

    Raises Conflict (asset tag or IMEI taken), InvalidInput (unknown org unit)."""
    checker = DeviceChecker.for_rows([data])
    checker.check(data)
    values = _device_values(data, checker)
    if not values.get("asset_tag"):
        values["asset_tag"] = next_asset_tags(1)[0]
    device = Device(**values)
    db.session.add(device)
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        db.session.rollback()
        raise Conflict(_l("This device is already registered.")) from exc
    record(actor, "device.register", device, after=snapshot(device))
    return device


def register_devices_bulk(rows: list[dict], *, actor) -> int:
    """Insert many already-checked device rows (DeviceCreateArgs outputs) in one executemany
    each for devices and audit entries. The caller has run ``DeviceChecker.check`` on every
    row. Returns the number inserted."""
    checker = DeviceChecker()
    values = [_device_values(r, checker) for r in rows]
    missing = [v for v in values if not v.get("asset_tag")]
    for v, tag in zip(missing, next_asset_tags(len(missing)) if missing else [], strict=True):
        v["asset_tag"] = tag
    now = utcnow()
    for v in values:
        v["created_at"] = v["updated_at"] = now
    table = Device.__table__
    inserted = db.session.execute(
        insert(table).returning(table.c.id, table.c.asset_tag, sort_by_parameter_order=True), values
    ).all()
    name = _actor_name(actor)
    actor_id = getattr(actor, "id", None)
    audit_rows = [
        {
            "at": now,
            "actor_id": actor_id,
            "actor_name": name,
            "action": "device.import",
            "entity_type": "device",
            "entity_id": str(dev_id),
            "entity_label": tag,
            "before": None,
            "after": {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in val.items()},
        }
        for (dev_id, tag), val in zip(inserted, values, strict=True)
    ]
    if audit_rows:
        db.session.execute(insert(AuditEntry.__table__), audit_rows)
    return len(inserted)


def update_device(device: Device, data: dict, *, actor) -> Device:
    """Change a device's registered fields (DeviceUpdateArgs output). A status change goes
    through :func:`change_status` rules."""
    before = snapshot(device)
    data = dict(data)
    new_status = data.pop("status", None)
    checker = DeviceChecker.for_rows(
        [
            {
                k: v
                for k, v in data.items()
                if k in ("asset_tag", "imei", "imei2") and v and v != getattr(device, k)
            }
        ]
    )
    checker.check(
        {
            k: v
            for k, v in data.items()
            if k in ("asset_tag", "imei", "imei2") and v and v != getattr(device, k)
        }
    )
    for key in DEVICE_COLUMNS:
        if key in data and key != "status":
            value = data[key]
            if key in ("notes", "manufacturer", "model") and value is None:
                value = ""
            if key == "asset_tag" and not value:
                continue
            setattr(device, key, value)
    if "org_unit_id" in data or "org_unit" in data:
        ref = (
            data.get("org_unit_id") if data.get("org_unit_id") is not None else data.get("org_unit")
        )
        device.org_unit = resolve_org_unit(ref)
    if new_status and new_status != device.status:
        _move(device, new_status)
    db.session.flush()
    record(actor, "device.update", device, before=before, after=snapshot(device))
    return device


def _move(device: Device, new_status: str) -> None:
    if new_status not in DEVICE_TRANSITIONS[device.status]:
        allowed = ", ".join(sorted(DEVICE_TRANSITIONS[device.status])) or _l("none")
        raise IllegalTransition(
            _l(
                "A device cannot go from %(a)s to %(b)s (allowed: %(allowed)s).",
                a=device.status,
                b=new_status,
                allowed=allowed,
            ),
            fields={"status": _l("Not allowed from %(a)s.", a=device.status)},
        )
    if new_status in ("assigned", "in_field") and device.open_custody is None:
        raise IllegalTransition(
            _l("Check the device out to a holder first."), fields={"status": _l("Needs a holder.")}
        )
    if (
        device.status in ("assigned", "in_field")
        and new_status in ("returned", "in_repair")
        and device.open_custody is not None
    ):
        raise IllegalTransition(
            _l("Check the device in to end its custody."), fields={"status": _l("Use check-in.")}
        )
    device.status = new_status


def change_status(device: Device, new_status: str, *, actor, note: str | None = None) -> Device:
    """Move ``device`` along its lifecycle (DEVICE_TRANSITIONS); refuses illegal moves."""
    before = snapshot(device)
    _move(device, new_status)
    if note:
        device.notes = (device.notes + "\n" if device.notes else "") + note
    db.session.flush()
    record(actor, "device.status", device, before=before, after=snapshot(device))
    return device


def find_device(ref: str) -> Device:
    """A device by asset tag (case-insensitive), IMEI or IMEI2. Raises NotFound."""
    ref = (ref or "").strip()
    device = db.session.scalar(
        select(Device).where(
            or_(
                func.upper(Device.asset_tag) == ref.upper(), Device.imei == ref, Device.imei2 == ref
            )
        )
    )
    if device is None:
        raise NotFound(_l("No device %(r)s.", r=ref))
    return device


# ---- custody -------------------------------------------------------------------------------


def checkout(device: Device, holder: Holder, *, actor, condition: str | None = None) -> Custody:
    """Check ``device`` out to ``holder``: opens a custody record, status -> assigned."""
    if device.open_custody is not None:
        raise IllegalTransition(
            _l(
                "%(t)s is already checked out to %(h)s.",
                t=device.asset_tag,
                h=device.open_custody.holder.name,
            )
        )
    if device.status not in CHECKOUT_FROM:
        raise IllegalTransition(
            _l("A device in status %(s)s cannot be checked out.", s=device.status),
            fields={"status": _l("Not available.")},
        )
    if not holder.active:
        raise InvalidInput(
            _l("%(h)s is not an active holder.", h=holder.name),
            fields={"holder_id": _l("Inactive holder.")},
        )
    before = snapshot(device)
    custody = Custody(
        device=device,
        holder=holder,
        checked_out_by=_actor_name(actor),
        checkout_condition=condition or "",
    )
    db.session.add(custody)
    device.status = "assigned"
    device.holder = holder
    if holder.org_unit_id and device.org_unit_id is None:
        device.org_unit_id = holder.org_unit_id
    db.session.flush()
    record(actor, "device.checkout", custody, after=snapshot(custody))
    record(actor, "device.update", device, before=before, after=snapshot(device))
    return custody


def checkin(
    device: Device, *, actor, condition: str | None = None, status: str = "returned"
) -> Custody:
    """Check ``device`` back in: closes the open custody with condition notes; status ->
    ``returned`` (or ``in_repair``)."""
    custody = device.open_custody
    if custody is None:
        raise IllegalTransition(_l("%(t)s is not checked out.", t=device.asset_tag))
    before_c, before_d = snapshot(custody), snapshot(device)
    custody.checked_in_at = utcnow()
    custody.checked_in_by = _actor_name(actor)
    custody.checkin_condition = condition or ""
    device.status = status
    device.holder = None
    db.session.flush()
    record(actor, "device.checkin", custody, before=before_c, after=snapshot(custody))
    record(actor, "device.update", device, before=before_d, after=snapshot(device))
    return custody


def report_loss(device: Device, *, kind: str, on: date, report: str, actor) -> Device:
    """Mark ``device`` lost or stolen on ``on`` with the report text; closes open custody."""
    if kind not in ("lost", "stolen"):
        raise InvalidInput(_l("Kind must be lost or stolen."), fields={"kind": _l("Invalid.")})
    if on > date.today():
        raise InvalidInput(_l("The date cannot be in the future."), fields={"date": _l("Future.")})
    before = snapshot(device)
    custody = device.open_custody
    if kind not in DEVICE_TRANSITIONS[device.status]:
        _move(device, kind)  # raises with the allowed moves
    if custody is not None:
        custody.checked_in_at = utcnow()
        custody.checked_in_by = _actor_name(actor)
        custody.checkin_condition = f"{kind}: {report}"
    device.status = kind
    device.loss_date = on
    device.loss_report = report
    db.session.flush()
    record(actor, f"device.{kind}", device, before=before, after=snapshot(device))
    return device


# ---- SIM cards -----------------------------------------------------------------------------

SIM_COLUMNS = (
    "iccid",
    "msisdn",
    "imsi",
    "carrier",
    "data_plan",
    "bundle_expires_on",
    "sim_pin",
    "sim_puk",
    "glued_in",
    "status",
    "notes",
)


@dataclass
class SimChecker:
    """Like DeviceChecker, for ICCIDs and MSISDNs."""

    known_iccids: set = field(default_factory=set)
    known_msisdns: set = field(default_factory=set)
    seen_iccids: dict = field(default_factory=dict)
    seen_msisdns: dict = field(default_factory=dict)

    @classmethod
    def for_rows(cls, rows: list[dict]) -> SimChecker:
        checker = cls()
        for chunk in _chunks(sorted({r["iccid"] for r in rows if r.get("iccid")})):
            checker.known_iccids.update(
                db.session.scalars(select(Sim.iccid).where(Sim.iccid.in_(chunk)))
            )
        for chunk in _chunks(sorted({r["msisdn"] for r in rows if r.get("msisdn")})):
            checker.known_msisdns.update(
                db.session.scalars(select(Sim.msisdn).where(Sim.msisdn.in_(chunk)))
            )
        return checker

    def check(self, data: dict, row: int | None = None) -> None:
        for key, known, seen in (
            ("iccid", self.known_iccids, self.seen_iccids),
            ("msisdn", self.known_msisdns, self.seen_msisdns),
        ):
            value = data.get(key)
            if not value:
                continue
            if value in known:
                raise Conflict(
                    _l("%(k)s %(v)s is already registered.", k=key.upper(), v=value),
                    fields={key: _l("Already registered.")},
                )
            if value in seen:
                raise Conflict(
                    _l("%(k)s %(v)s is also in row %(r)s.", k=key.upper(), v=value, r=seen[value]),
                    fields={key: _l("Duplicate in file.")},
                )
        for key, seen in (("iccid", self.seen_iccids), ("msisdn", self.seen_msisdns)):
            if data.get(key):
                seen[data[key]] = row


def _sim_values(data: dict) -> dict:
    values = {k: data.get(k) for k in SIM_COLUMNS if k in data}
    for key in ("carrier", "data_plan", "notes"):
        values[key] = values.get(key) or ""
    values.setdefault("status", "active")
    values["glued_in"] = bool(values.get("glued_in"))
    return values


def register_sim(data: dict, *, actor) -> Sim:
    """Register a SIM from SimCreateArgs output; pairs it when ``device`` (asset tag/IMEI) is
    given. Raises Conflict (ICCID/MSISDN taken)."""
    SimChecker.for_rows([data]).check(data)
    sim = Sim(**_sim_values(data))
    db.session.add(sim)
    db.session.flush()
    record(actor, "sim.register", sim, after=snapshot(sim))
    if data.get("device"):
        pair_sim(find_device(data["device"]), sim, actor=actor)
    return sim


def register_sims_bulk(rows: list[dict], *, actor) -> int:
    """Insert checked SIM rows; pairs those naming a device. Returns the number inserted."""
    count = 0
    for row in rows:  # PIN/PUK need the ORM's encryption type; rows are few per procurement
        register_sim(row, actor=actor)
        count += 1
    return count


def update_sim(sim: Sim, data: dict, *, actor) -> Sim:
    """Change a SIM's fields (SimUpdateArgs output)."""
    before = snapshot(sim)
    changed = {
        k: v for k, v in data.items() if k in ("iccid", "msisdn") and v and v != getattr(sim, k)
    }
    SimChecker.for_rows([changed]).check(changed)
    for key, value in _sim_values({k: v for k, v in data.items() if k in SIM_COLUMNS}).items():
        if key in data:
            setattr(sim, key, value)
    db.session.flush()
    record(actor, "sim.update", sim, before=before, after=snapshot(sim))
    return sim


def find_sim(ref: str) -> Sim:
    """A SIM by ICCID or MSISDN. Raises NotFound."""
    ref = (ref or "").strip().replace(" ", "")
    sim = db.session.scalar(select(Sim).where(or_(Sim.iccid == ref, Sim.msisdn == ref)))
    if sim is None:
        raise NotFound(_l("No SIM %(r)s.", r=ref))
    return sim


#: A device holds at most this many SIMs at once (dual-SIM phones).
MAX_SIMS_PER_DEVICE = 2


def pair_sim(device: Device, sim: Sim, *, actor) -> SimPairing:
    """Put ``sim`` in ``device``. A SIM is in at most one device at a time (also enforced by a
    partial unique index); a device takes at most MAX_SIMS_PER_DEVICE."""
    current = sim.current_device
    if current is not None:
        raise Conflict(
            _l("SIM %(s)s is already in %(d)s; unpair it first.", s=sim.iccid, d=current.asset_tag),
            fields={"iccid": _l("Already paired.")},
        )
    if sim.status != "active":
        raise InvalidInput(_l("SIM %(s)s is %(st)s, not active.", s=sim.iccid, st=sim.status))
    if len(device.current_sims) >= MAX_SIMS_PER_DEVICE:
        raise Conflict(
            _l("%(d)s already holds %(n)d SIMs.", d=device.asset_tag, n=MAX_SIMS_PER_DEVICE)
        )
    pairing = SimPairing(sim=sim, device=device, paired_by=_actor_name(actor))
    db.session.add(pairing)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(_l("SIM %(s)s was just paired elsewhere.", s=sim.iccid)) from exc
    record(actor, "sim.pair", pairing, after=snapshot(pairing))
    return pairing


def unpair_sim(sim: Sim, *, actor) -> SimPairing:
    """Take ``sim`` out of its device; the pairing stays in the history."""
    pairing = next((p for p in sim.pairings if p.unpaired_at is None), None)
    if pairing is None:
        raise IllegalTransition(_l("SIM %(s)s is not in a device.", s=sim.iccid))
    before = snapshot(pairing)
    pairing.unpaired_at = utcnow()
    pairing.unpaired_by = _actor_name(actor)
    db.session.flush()
    record(actor, "sim.unpair", pairing, before=before, after=snapshot(pairing))
    return pairing


@dataclass
class HolderChecker:
    """Checks holder rows: unknown org unit, DHIS2 username taken or repeated in the file."""

    known_usernames: set = field(default_factory=set)
    seen_usernames: dict = field(default_factory=dict)
    org_units: dict = field(default_factory=dict)

    @classmethod
    def for_rows(cls, rows: list[dict]) -> HolderChecker:
        checker = cls()
        names = sorted({r["dhis2_username"] for r in rows if r.get("dhis2_username")})
        for chunk in _chunks(names):
            checker.known_usernames.update(
                db.session.scalars(
                    select(Holder.dhis2_username).where(Holder.dhis2_username.in_(chunk))
                )
            )
        return checker

    def check(self, data: dict, row: int | None = None) -> None:
        username = data.get("dhis2_username")
        if username in self.known_usernames:
            raise Conflict(
                _l("DHIS2 username %(u)s belongs to another holder.", u=username),
                fields={"dhis2_username": _l("Already registered.")},
            )
        if username and username in self.seen_usernames:
            raise Conflict(
                _l(
                    "DHIS2 username %(u)s is also in row %(r)s.",
                    u=username,
                    r=self.seen_usernames[username],
                ),
                fields={"dhis2_username": _l("Duplicate in file.")},
            )
        ref = (
            data.get("org_unit_id") if data.get("org_unit_id") is not None else data.get("org_unit")
        )
        if ref is not None and ref not in self.org_units:
            self.org_units[ref] = resolve_org_unit(ref)
        if username:
            self.seen_usernames[username] = row


def register_holders_bulk(rows: list[dict], *, actor) -> int:
    """Create checked holder rows one by one (audited). Returns the number created."""
    for row in rows:
        create_holder(row, actor=actor)
    return len(rows)
