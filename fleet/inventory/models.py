"""Inventory tables: org units, holders, devices, SIM cards, SIM pairings and custody.

Constraints live in the database too (STYLE.md): unique IMEI/ICCID/asset tag, one open SIM
pairing per SIM, one open custody per device, check constraints on status columns.
"""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fleet.crypto import EncryptedText
from fleet.extensions import UTCDateTime, db
from fleet.timeutil import utcnow

#: Device lifecycle (issue 2, item 4) and the moves it allows.
DEVICE_STATUSES = (
    "in_stock",
    "provisioned",
    "assigned",
    "in_field",
    "returned",
    "in_repair",
    "lost",
    "stolen",
    "retired",
)
DEVICE_TRANSITIONS: dict[str, frozenset[str]] = {
    "in_stock": frozenset({"provisioned", "assigned", "in_repair", "lost", "stolen", "retired"}),
    "provisioned": frozenset({"assigned", "in_stock", "in_repair", "lost", "stolen", "retired"}),
    "assigned": frozenset({"in_field", "returned", "in_repair", "lost", "stolen"}),
    "in_field": frozenset({"returned", "in_repair", "lost", "stolen"}),
    "returned": frozenset({"in_stock", "provisioned", "assigned", "in_repair", "retired"}),
    "in_repair": frozenset({"in_stock", "returned", "retired"}),
    "lost": frozenset({"returned", "retired"}),
    "stolen": frozenset({"returned", "retired"}),
    "retired": frozenset(),
}
#: Human labels of the statuses, translated (the stored values stay English identifiers).
DEVICE_STATUS_LABELS = {
    "in_stock": _l("in stock"),
    "provisioned": _l("provisioned"),
    "assigned": _l("assigned"),
    "in_field": _l("in the field"),
    "returned": _l("returned"),
    "in_repair": _l("in repair"),
    "lost": _l("lost"),
    "stolen": _l("stolen"),
    "retired": _l("retired"),
}
#: Statuses from which a device can be checked out to a holder.
CHECKOUT_FROM = frozenset({"in_stock", "provisioned", "returned"})
OWNERSHIPS = ("institution", "personal")
SIM_STATUSES = ("active", "suspended", "lost", "retired")
HOLDER_ROLES = ("campaign_worker", "supervisor", "technician", "other")
#: Org unit levels as DHIS2 numbers them in a typical campaign hierarchy.
ORG_UNIT_LEVELS = {1: "country", 2: "region", 3: "district", 4: "facility"}


def _in(values) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


class OrgUnit(db.Model):
    __tablename__ = "org_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: DHIS2 UID (11 characters, letter first), optional.
    uid: Mapped[str | None] = mapped_column(String(11), unique=True)
    name: Mapped[str] = mapped_column(String(230))
    code: Mapped[str | None] = mapped_column(String(50))
    level: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    #: Materialised path of ids, "/1/4/17/", for subtree queries with a prefix LIKE.
    path: Mapped[str] = mapped_column(String(400), index=True, default="/")

    parent: Mapped[OrgUnit | None] = relationship(remote_side=[id])

    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 10", name="level"),
        Index("ix_org_unit_name_level", "name", "level"),
    )

    @property
    def audit_label(self) -> str:
        return self.name

    @property
    def level_name(self) -> str:
        return ORG_UNIT_LEVELS.get(self.level, f"level {self.level}")


#: Holder columns of the expected offline workload, the inputs of capacity estimation (issue 5).
WORKLOAD_COLUMNS = (
    "expected_teis",
    "events_per_tei",
    "attributes_per_tei",
    "capture_org_units",
    "search_org_units",
    "programs",
    "program_rules",
    "largest_option_set",
    "reserved_values",
)


class Holder(db.Model):
    """A person who holds devices: campaign worker, supervisor..."""

    __tablename__ = "holder"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    role: Mapped[str] = mapped_column(String(30), default="campaign_worker")
    msisdn: Mapped[str | None] = mapped_column(String(20), index=True)
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    dhis2_username: Mapped[str | None] = mapped_column(String(100), unique=True)
    national_id: Mapped[str | None] = mapped_column(String(60))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    # Expected offline workload, the inputs of capacity estimation (issue 5).
    expected_teis: Mapped[int | None] = mapped_column(Integer)
    events_per_tei: Mapped[float | None] = mapped_column()
    attributes_per_tei: Mapped[int | None] = mapped_column(Integer)
    capture_org_units: Mapped[int | None] = mapped_column(Integer)
    search_org_units: Mapped[int | None] = mapped_column(Integer)
    programs: Mapped[int | None] = mapped_column(Integer)
    program_rules: Mapped[int | None] = mapped_column(Integer)
    largest_option_set: Mapped[int | None] = mapped_column(Integer)
    reserved_values: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org_unit: Mapped[OrgUnit | None] = relationship()

    __table_args__ = (CheckConstraint(f"role IN {_in(HOLDER_ROLES)}", name="role"),)

    @property
    def audit_label(self) -> str:
        return self.name


class Device(db.Model):
    __tablename__ = "device"

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_tag: Mapped[str] = mapped_column(String(40), unique=True)
    box_number: Mapped[str | None] = mapped_column(String(40), index=True)
    serial: Mapped[str | None] = mapped_column(String(64), index=True)
    imei: Mapped[str | None] = mapped_column(String(15), unique=True)
    imei2: Mapped[str | None] = mapped_column(String(15), unique=True)
    manufacturer: Mapped[str] = mapped_column(String(80), default="")
    model: Mapped[str] = mapped_column(String(80), default="", index=True)
    android_version: Mapped[str | None] = mapped_column(String(20))
    api_level: Mapped[int | None] = mapped_column(Integer)
    ram_mb: Mapped[int | None] = mapped_column(Integer)
    storage_gb: Mapped[int | None] = mapped_column(Integer)
    ownership: Mapped[str] = mapped_column(String(20), default="institution")
    status: Mapped[str] = mapped_column(String(20), default="in_stock", index=True)
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("holder.id"), index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    loss_date: Mapped[date | None] = mapped_column(Date)
    loss_report: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )

    org_unit: Mapped[OrgUnit | None] = relationship()
    holder: Mapped[Holder | None] = relationship()
    pairings: Mapped[list[SimPairing]] = relationship(
        back_populates="device", order_by="SimPairing.id.desc()"
    )
    custody: Mapped[list[Custody]] = relationship(
        back_populates="device", order_by="Custody.id.desc()"
    )

    __table_args__ = (
        CheckConstraint(f"status IN {_in(DEVICE_STATUSES)}", name="status"),
        CheckConstraint(f"ownership IN {_in(OWNERSHIPS)}", name="ownership"),
        CheckConstraint("ram_mb IS NULL OR ram_mb > 0", name="ram_positive"),
        CheckConstraint("storage_gb IS NULL OR storage_gb > 0", name="storage_positive"),
    )

    @property
    def audit_label(self) -> str:
        return self.asset_tag

    @property
    def current_sims(self) -> list[Sim]:
        return [p.sim for p in self.pairings if p.unpaired_at is None]

    @property
    def open_custody(self) -> Custody | None:
        return next((c for c in self.custody if c.checked_in_at is None), None)


class Sim(db.Model):
    __tablename__ = "sim"

    id: Mapped[int] = mapped_column(primary_key=True)
    iccid: Mapped[str] = mapped_column(String(20), unique=True)
    msisdn: Mapped[str | None] = mapped_column(String(20), unique=True)
    imsi: Mapped[str | None] = mapped_column(String(15))
    carrier: Mapped[str] = mapped_column(String(80), default="")
    data_plan: Mapped[str] = mapped_column(String(120), default="")
    bundle_expires_on: Mapped[date | None] = mapped_column(Date, index=True)
    sim_pin: Mapped[str | None] = mapped_column(EncryptedText())
    sim_puk: Mapped[str | None] = mapped_column(EncryptedText())
    glued_in: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="active")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    pairings: Mapped[list[SimPairing]] = relationship(
        back_populates="sim", order_by="SimPairing.id.desc()"
    )

    __table_args__ = (CheckConstraint(f"status IN {_in(SIM_STATUSES)}", name="status"),)

    @property
    def audit_label(self) -> str:
        return self.iccid

    @property
    def current_device(self) -> Device | None:
        return next((p.device for p in self.pairings if p.unpaired_at is None), None)


class SimPairing(db.Model):
    """Which SIM was in which device, when. At most one open pairing per SIM (partial unique
    index), so a SIM is in at most one device at a time."""

    __tablename__ = "sim_pairing"

    id: Mapped[int] = mapped_column(primary_key=True)
    sim_id: Mapped[int] = mapped_column(ForeignKey("sim.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), index=True)
    paired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paired_by: Mapped[str] = mapped_column(String(80))
    unpaired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unpaired_by: Mapped[str | None] = mapped_column(String(80))

    sim: Mapped[Sim] = relationship(back_populates="pairings")
    device: Mapped[Device] = relationship(back_populates="pairings")

    __table_args__ = (
        Index(
            "uq_sim_pairing_open_sim",
            "sim_id",
            unique=True,
            sqlite_where=text("unpaired_at IS NULL"),
            postgresql_where=text("unpaired_at IS NULL"),
        ),
    )

    @property
    def audit_label(self) -> str:
        return f"{self.sim.iccid} in {self.device.asset_tag}"


class Custody(db.Model):
    """A device checked out to a holder and (later) back in, with condition notes."""

    __tablename__ = "custody"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("holder.id"), index=True)
    checked_out_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    checked_out_by: Mapped[str] = mapped_column(String(80))
    checkout_condition: Mapped[str] = mapped_column(Text, default="")
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_by: Mapped[str | None] = mapped_column(String(80))
    checkin_condition: Mapped[str | None] = mapped_column(Text)

    device: Mapped[Device] = relationship(back_populates="custody")
    holder: Mapped[Holder] = relationship()

    __table_args__ = (
        Index(
            "uq_custody_open_device",
            "device_id",
            unique=True,
            sqlite_where=text("checked_in_at IS NULL"),
            postgresql_where=text("checked_in_at IS NULL"),
        ),
    )

    @property
    def audit_label(self) -> str:
        return f"{self.device.asset_tag} → {self.holder.name}"


class Counter(db.Model):
    """Named counters (asset tag numbers), incremented atomically."""

    __tablename__ = "counter"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
