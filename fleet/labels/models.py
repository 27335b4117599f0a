"""Stock audits by scanning labels: a session for a district and what was scanned in it.

The rendering library in this package (payload, render, agreement_pdf) stays free of the
database; only this module and ``scanning.py`` touch it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fleet.extensions import UTCDateTime, db
from fleet.inventory.models import Device, OrgUnit
from fleet.timeutil import utcnow

#: What a scan turned out to be.
#: present: an expected device of the district; foreign: a fleet device of another district
#: (or none); unknown: a fleet label whose asset tag is not registered; not_fleet: a QR code
#: that is not a fleet label at all.
OUTCOMES = ("present", "foreign", "unknown", "not_fleet")


class ScanAudit(db.Model):
    __tablename__ = "scan_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="open")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_by: Mapped[str] = mapped_column(String(80))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(80))
    notes: Mapped[str] = mapped_column(Text, default="")

    org_unit: Mapped[OrgUnit] = relationship()
    entries: Mapped[list[ScanAuditEntry]] = relationship(back_populates="audit",
                                                         order_by="ScanAuditEntry.id")

    __table_args__ = (CheckConstraint("status IN ('open','closed')", name="status"),)

    @property
    def audit_label(self) -> str:
        return f"audit {self.id} {self.org_unit.name}"


class ScanAuditEntry(db.Model):
    """One distinct scanned code in an audit (a device scanned twice counts once: the unique
    index on (audit, device) for present/foreign scans)."""

    __tablename__ = "scan_audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("scan_audit.id"), index=True)
    raw: Mapped[str] = mapped_column(String(400))
    asset_tag: Mapped[str | None] = mapped_column(String(40))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"))
    outcome: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by: Mapped[str] = mapped_column(String(80))

    audit: Mapped[ScanAudit] = relationship(back_populates="entries")
    device: Mapped[Device | None] = relationship()

    __table_args__ = (
        CheckConstraint("outcome IN ('present','foreign','unknown','not_fleet')",
                        name="outcome"),
        Index("uq_scan_audit_entry_device", "audit_id", "device_id", unique=True,
              sqlite_where=text("device_id IS NOT NULL"),
              postgresql_where=text("device_id IS NOT NULL")),
    )

    @property
    def audit_label(self) -> str:
        return f"{self.outcome} {self.asset_tag or self.raw[:40]}"
