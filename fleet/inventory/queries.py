"""Read-side queries for lists and search (pages, API, exports share them)."""

from __future__ import annotations

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import selectinload

from fleet.extensions import db
from fleet.inventory.models import Device, Holder, OrgUnit, Sim, SimPairing


def _subtree_ids(ref: str):
    """Subquery of org unit ids at or below the unit named by ``ref`` (name, code or UID)."""
    ref = ref.strip()
    units = db.session.scalars(
        select(OrgUnit).where(
            or_(OrgUnit.uid == ref, OrgUnit.code == ref, func.lower(OrgUnit.name) == ref.lower())
        )
    ).all()
    if not units:
        return select(OrgUnit.id).where(False)
    return select(OrgUnit.id).where(or_(*[OrgUnit.path.like(u.path + "%") for u in units]))


def _open_pairing_sims():
    return select(SimPairing.device_id).join(Sim).where(SimPairing.unpaired_at.is_(None))


def device_query(
    *,
    q=None,
    status=None,
    district=None,
    holder=None,
    model=None,
    imei=None,
    iccid=None,
    msisdn=None,
    **_ignored,
):
    """A ``select(Device)`` filtered as the device list and API allow, newest first.

    ``q`` matches the start of asset tag, IMEI, IMEI2 or serial, an exact ICCID/MSISDN of a
    paired SIM, or part of the holder's name."""
    stmt = select(Device).options(
        selectinload(Device.holder),
        selectinload(Device.org_unit),
        selectinload(Device.pairings).selectinload(SimPairing.sim),
    )
    if status:
        stmt = stmt.where(Device.status == status)
    if model:
        stmt = stmt.where(func.lower(Device.model) == model.strip().lower())
    if imei:
        stmt = stmt.where(or_(Device.imei == imei.strip(), Device.imei2 == imei.strip()))
    if district:
        stmt = stmt.where(Device.org_unit_id.in_(_subtree_ids(district)))
    if holder:
        stmt = stmt.where(
            Device.holder_id.in_(
                select(Holder.id).where(func.lower(Holder.name).contains(holder.strip().lower()))
            )
        )
    if iccid:
        stmt = stmt.where(Device.id.in_(_open_pairing_sims().where(Sim.iccid == iccid.strip())))
    if msisdn:
        stmt = stmt.where(Device.id.in_(_open_pairing_sims().where(Sim.msisdn == msisdn.strip())))
    if q:
        term = q.strip()
        upper = term.upper()
        stmt = stmt.where(
            or_(
                func.upper(Device.asset_tag).startswith(upper, autoescape=True),
                Device.imei.startswith(term, autoescape=True),
                Device.imei2.startswith(term, autoescape=True),
                Device.serial.startswith(term, autoescape=True),
                Device.box_number == term,
                Device.id.in_(
                    _open_pairing_sims().where(or_(Sim.iccid == term, Sim.msisdn == term))
                ),
                Device.holder_id.in_(
                    select(Holder.id).where(
                        func.lower(Holder.name).contains(term.lower(), autoescape=True)
                    )
                ),
            )
        )
    return stmt.order_by(Device.id.desc())


def sim_query(*, q=None, status=None, paired=None, **_ignored):
    """A ``select(Sim)`` for the SIM list: ``q`` matches ICCID/MSISDN prefix or carrier."""
    stmt = select(Sim).options(selectinload(Sim.pairings).selectinload(SimPairing.device))
    if status:
        stmt = stmt.where(Sim.status == status)
    if paired is not None:
        open_pair = exists().where(SimPairing.sim_id == Sim.id, SimPairing.unpaired_at.is_(None))
        stmt = stmt.where(open_pair if paired else ~open_pair)
    if q:
        term = q.strip().replace(" ", "")
        stmt = stmt.where(
            or_(
                Sim.iccid.startswith(term, autoescape=True),
                Sim.msisdn.startswith(term, autoescape=True),
                func.lower(Sim.carrier) == term.lower(),
            )
        )
    return stmt.order_by(Sim.id.desc())


def holder_query(*, q=None, district=None, role=None, **_ignored):
    """A ``select(Holder)``: ``q`` matches part of the name, the MSISDN or DHIS2 username."""
    stmt = select(Holder).options(selectinload(Holder.org_unit))
    if role:
        stmt = stmt.where(Holder.role == role)
    if district:
        stmt = stmt.where(Holder.org_unit_id.in_(_subtree_ids(district)))
    if q:
        term = q.strip()
        stmt = stmt.where(
            or_(
                func.lower(Holder.name).contains(term.lower(), autoescape=True),
                Holder.msisdn.startswith(term, autoescape=True),
                Holder.dhis2_username == term,
            )
        )
    return stmt.order_by(Holder.name)


def org_unit_tree() -> list[OrgUnit]:
    """Every org unit in hierarchy order (by path)."""
    return db.session.scalars(select(OrgUnit).order_by(OrgUnit.path)).all()


def districts() -> list[OrgUnit]:
    """Org units at level 3 (district), by name."""
    return db.session.scalars(
        select(OrgUnit).where(OrgUnit.level == 3).order_by(OrgUnit.name)
    ).all()


def status_counts() -> dict[str, int]:
    """Devices per status."""
    return dict(
        db.session.execute(select(Device.status, func.count()).group_by(Device.status)).all()
    )
