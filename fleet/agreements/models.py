"""Ownership agreement tables: versioned terms templates, agreements, the items they cover,
their step history, holder signatures and uploaded scans.

Practice followed (DHIS2 Android implementation guide, Rollout): the box and both copies of
the phone agreement carry the same number; the holder signs, the council signs and stamps both
copies; one copy stays with the district, the other goes back to the partner.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fleet.extensions import UTCDateTime, db
from fleet.inventory.models import Device, Holder, OrgUnit, Sim
from fleet.timeutil import utcnow

OWNERSHIP_VARIANTS = ("institution", "personal")

#: Agreement lifecycle (issue 3, item 2).
STATUSES = ("draft", "printed", "signed_by_holder", "signed_stamped_by_council", "filed",
            "closed", "ended_lost", "ended_stolen")
#: Statuses an agreement can still move out of.
OPEN_STATUSES = ("draft", "printed", "signed_by_holder", "signed_stamped_by_council", "filed")
#: The moves each action makes: action -> (allowed from, goes to). ``None`` as target means the
#: status does not change (a reprint, or the first of the two filing records).
ACTIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "print": (frozenset({"draft", "printed"}), "printed"),
    "sign_holder": (frozenset({"printed"}), "signed_by_holder"),
    "sign_council": (frozenset({"signed_by_holder"}), "signed_stamped_by_council"),
    "keep_district_copy": (frozenset({"signed_stamped_by_council"}), None),
    "return_partner_copy": (frozenset({"signed_stamped_by_council"}), None),
    "close": (frozenset({"filed"}), "closed"),
    "end_lost": (frozenset({"signed_by_holder", "signed_stamped_by_council", "filed"}),
                 "ended_lost"),
    "end_stolen": (frozenset({"signed_by_holder", "signed_stamped_by_council", "filed"}),
                   "ended_stolen"),
}
SCAN_TYPES = ("application/pdf", "image/jpeg", "image/png")


def _in(values) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


class AgreementTemplate(db.Model):
    """One version of the terms for an ownership variant. Edits add a row with version + 1;
    rows are never changed, so an agreement's ``template`` still shows what it printed."""

    __tablename__ = "agreement_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    ownership: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(80), default="system")

    __table_args__ = (
        CheckConstraint(f"ownership IN {_in(OWNERSHIP_VARIANTS)}", name="ownership"),
        CheckConstraint("version >= 1", name="version_positive"),
        UniqueConstraint("ownership", "version", name="uq_agreement_template_ownership_version"),
    )

    @property
    def audit_label(self) -> str:
        return f"{self.name} v{self.version}"


class Agreement(db.Model):
    __tablename__ = "agreement"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Printed on the box and both copies; the box number by default.
    number: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(30), default="draft", index=True)
    #: When the agreement reached its current step (the stuck list compares this).
    status_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow,
                                                index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("holder.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), index=True)
    sim_id: Mapped[int | None] = mapped_column(ForeignKey("sim.id"))
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    ownership: Mapped[str] = mapped_column(String(20))
    template_id: Mapped[int] = mapped_column(ForeignKey("agreement_template.id"))
    #: The exact terms (template text at creation) and its version label, kept for good.
    terms_text: Mapped[str] = mapped_column(Text)
    terms_version: Mapped[str] = mapped_column(String(160))
    terms_sha256: Mapped[str] = mapped_column(String(64))
    district_name: Mapped[str] = mapped_column(String(230), default="")
    facility_name: Mapped[str] = mapped_column(String(230), default="")
    issued_on: Mapped[date] = mapped_column(Date)
    expected_return_on: Mapped[date | None] = mapped_column(Date)
    printed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    page_size: Mapped[str | None] = mapped_column(String(10))
    district_copy_kept_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    district_copy_kept_by: Mapped[str | None] = mapped_column(String(80))
    partner_copy_returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    partner_copy_returned_by: Mapped[str | None] = mapped_column(String(80))
    #: Who pays, for an agreement ended lost or stolen.
    liability: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(80))
    #: Optimistic lock: two people moving the same agreement at once cannot both succeed
    #: (SQLAlchemy version counter; the loser's flush raises StaleDataError).
    lock_version: Mapped[int] = mapped_column(Integer, default=1)

    holder: Mapped[Holder] = relationship()
    device: Mapped[Device] = relationship()
    sim: Mapped[Sim | None] = relationship()
    org_unit: Mapped[OrgUnit | None] = relationship()
    template: Mapped[AgreementTemplate] = relationship()
    items: Mapped[list[AgreementItem]] = relationship(back_populates="agreement",
                                                      order_by="AgreementItem.position",
                                                      cascade="all, delete-orphan")
    steps: Mapped[list[AgreementStep]] = relationship(back_populates="agreement",
                                                      order_by="AgreementStep.id")
    signatures: Mapped[list[AgreementSignature]] = relationship(
        back_populates="agreement", order_by="AgreementSignature.id")
    scans: Mapped[list[AgreementScan]] = relationship(back_populates="agreement",
                                                      order_by="AgreementScan.id")

    __table_args__ = (
        CheckConstraint(f"status IN {_in(STATUSES)}", name="status"),
        CheckConstraint(f"ownership IN {_in(OWNERSHIP_VARIANTS)}", name="ownership"),
    )
    __mapper_args__ = {"version_id_col": lock_version}

    @property
    def audit_label(self) -> str:
        return self.number

    @property
    def holder_signature(self) -> AgreementSignature | None:
        return self.signatures[-1] if self.signatures else None


class AgreementItem(db.Model):
    """One thing the agreement covers: the phone (a device row) or an accessory (a device row
    or a free-text line such as "Power bank 10,000 mAh, serial PB-778")."""

    __tablename__ = "agreement_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id", ondelete="CASCADE"),
                                              index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(60), default="Phone")
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"))
    description: Mapped[str] = mapped_column(String(300), default="")
    serial: Mapped[str | None] = mapped_column(String(64))

    agreement: Mapped[Agreement] = relationship(back_populates="items")
    device: Mapped[Device | None] = relationship()

    @property
    def audit_label(self) -> str:
        return self.device.asset_tag if self.device else self.description


class AgreementStep(db.Model):
    """The step history: every lifecycle action with who and when. Append-only."""

    __tablename__ = "agreement_step"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by: Mapped[str] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(Text, default="")

    agreement: Mapped[Agreement] = relationship(back_populates="steps")

    @property
    def audit_label(self) -> str:
        return f"{self.action} {self.to_status}"


class AgreementSignature(db.Model):
    """A holder's signature captured on a tablet/phone: the PNG is in the file store under
    DATA_DIR (named by its SHA-256), with the SHA-256 of the exact terms text shown."""

    __tablename__ = "agreement_signature"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), index=True)
    signer_name: Mapped[str] = mapped_column(String(200))
    png_sha256: Mapped[str] = mapped_column(String(64))
    png_size: Mapped[int] = mapped_column(Integer)
    text_sha256: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by: Mapped[str] = mapped_column(String(80))

    agreement: Mapped[Agreement] = relationship(back_populates="signatures")

    @property
    def audit_label(self) -> str:
        return f"{self.agreement.number} signed by {self.signer_name}"


class AgreementScan(db.Model):
    """An uploaded scan of the signed and stamped paper copy (PDF, JPEG or PNG), stored under
    DATA_DIR by its SHA-256; the type is taken from the bytes, never from the file name."""

    __tablename__ = "agreement_scan"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    #: The uploader's file name, for display only (never a path).
    original_name: Mapped[str] = mapped_column(String(200), default="")
    copy: Mapped[str] = mapped_column(String(20), default="district")
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by: Mapped[str] = mapped_column(String(80))

    agreement: Mapped[Agreement] = relationship(back_populates="scans")

    __table_args__ = (
        CheckConstraint(f"content_type IN {_in(SCAN_TYPES)}", name="content_type"),
        CheckConstraint("copy IN ('district','partner')", name="copy"),
        Index("ix_agreement_scan_sha256", "sha256"),
    )

    @property
    def audit_label(self) -> str:
        return f"{self.agreement.number} scan {self.sha256[:12]}"
