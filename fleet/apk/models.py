"""APK repository tables: releases, pinned signers, channels (with their scope), channel
pointers and their history, holder groups and download tokens.

Lifecycle of a release (issue 4, item 3)::

    uploaded -> vetted | rejected
    vetted -> in_testing | rejected | withdrawn
    in_testing -> approved | rejected | withdrawn
    approved -> released | withdrawn
    released -> superseded | withdrawn
    superseded -> released (rollback) | withdrawn
    rejected -> vetted | rejected (re-vetting after an admin re-pinned the signer)

The status column has a check constraint; :data:`RELEASE_TRANSITIONS` is the one table the
operations consult before any move.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fleet.extensions import UTCDateTime, db
from fleet.inventory import models as _inventory_models  # noqa: F401  (Holder, OrgUnit, Device)
from fleet.timeutil import utcnow

RELEASE_STATUSES = ("uploaded", "vetted", "rejected", "in_testing", "approved", "released",
                    "superseded", "withdrawn")
RELEASE_TRANSITIONS: dict[str, frozenset[str]] = {
    "uploaded": frozenset({"vetted", "rejected"}),
    "vetted": frozenset({"in_testing", "rejected", "withdrawn"}),
    "in_testing": frozenset({"approved", "rejected", "withdrawn"}),
    "approved": frozenset({"released", "withdrawn"}),
    "released": frozenset({"superseded", "withdrawn"}),
    "superseded": frozenset({"released", "withdrawn"}),
    "rejected": frozenset({"vetted", "rejected"}),
    "withdrawn": frozenset(),
}
#: Statuses whose file may be served at all (to a channel that points at it, or to staff).
SERVABLE_STATUSES = frozenset({"in_testing", "approved", "released", "superseded"})
#: Statuses a channel may point at: approved ones anywhere, in-testing ones on test channels.
POINTABLE_STATUSES = frozenset({"approved", "released", "superseded"})

POINTER_ACTIONS = ("release", "rollback", "rollout", "withdraw")


def _in(values) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


class Release(db.Model):
    """One uploaded APK file and what vetting and people decided about it."""

    __tablename__ = "apk_release"

    id: Mapped[int] = mapped_column(primary_key=True)
    package: Mapped[str | None] = mapped_column(String(255), index=True)
    version_code: Mapped[int | None] = mapped_column(BigInteger)
    version_name: Mapped[str | None] = mapped_column(String(100))
    min_sdk: Mapped[int | None] = mapped_column(Integer)
    target_sdk: Mapped[int | None] = mapped_column(Integer)
    #: SHA-256 of the file, lowercase hex: the file's name in the store and its ETag.
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    #: The name the uploader gave (display only; never used for a path).
    file_name: Mapped[str] = mapped_column(String(255), default="")
    signer_sha256: Mapped[str | None] = mapped_column(String(64))
    signer_subject: Mapped[str | None] = mapped_column(String(500))
    #: Signature schemes that verified, comma separated ("v1,v2,v3").
    schemes: Mapped[str] = mapped_column(String(40), default="")
    report: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="uploaded", index=True)
    release_notes: Mapped[str] = mapped_column(Text, default="")
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    uploaded_by: Mapped[str] = mapped_column(String(80), default="system")
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    approved_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    vetted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow,
                                                 onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(f"status IN {_in(RELEASE_STATUSES)}", name="status"),
        CheckConstraint("size >= 0", name="size"),
        Index("ix_apk_release_package_version_code", "package", "version_code"),
    )

    @property
    def audit_label(self) -> str:
        return f"{self.package or '?'} {self.version_name or ''} ({self.version_code})".strip()

    @property
    def checks(self) -> list[dict]:
        return list((self.report or {}).get("checks") or [])

    @property
    def reasons(self) -> list[str]:
        """Failure reasons from the stored report (what a rejected release shows)."""
        return [c["reason"] for c in self.checks if c.get("status") == "fail"]

    @property
    def is_debug_signed(self) -> bool:
        return any(c["name"] == "debug_certificate" and c["status"] != "pass" for c in self.checks)

    @property
    def friendly_name(self) -> str:
        """``<package>-<versionName>.apk`` with only safe characters (for download URLs)."""
        import re

        base = f"{self.package or 'app'}-{self.version_name or self.version_code or 'apk'}"
        return re.sub(r"[^A-Za-z0-9._-]+", "_", base)[:120] + ".apk"


class SignerPin(db.Model):
    """The signer certificate every release of ``package`` must carry (issue 4, item 2)."""

    __tablename__ = "apk_signer_pin"

    id: Mapped[int] = mapped_column(primary_key=True)
    package: Mapped[str] = mapped_column(String(255), unique=True)
    cert_sha256: Mapped[str] = mapped_column(String(64))
    release_id: Mapped[int | None] = mapped_column(ForeignKey("apk_release.id"))
    pinned_by: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text, default="")
    pinned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def audit_label(self) -> str:
        return self.package


holder_group_member = Table(
    "holder_group_member",
    db.metadata,
    Column("group_id", ForeignKey("holder_group.id", ondelete="CASCADE"), primary_key=True),
    Column("holder_id", ForeignKey("holder.id", ondelete="CASCADE"), primary_key=True),
)

apk_channel_org_unit = Table(
    "apk_channel_org_unit",
    db.metadata,
    Column("channel_id", ForeignKey("apk_channel.id", ondelete="CASCADE"), primary_key=True),
    Column("org_unit_id", ForeignKey("org_unit.id", ondelete="CASCADE"), primary_key=True),
)

apk_channel_holder_group = Table(
    "apk_channel_holder_group",
    db.metadata,
    Column("channel_id", ForeignKey("apk_channel.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("holder_group.id", ondelete="CASCADE"), primary_key=True),
)


class HolderGroup(db.Model):
    """A named set of holders (e.g. "pilot supervisors") a channel can be scoped to."""

    __tablename__ = "holder_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    holders = relationship("Holder", secondary=holder_group_member, order_by="Holder.name")

    @property
    def audit_label(self) -> str:
        return self.name


class Channel(db.Model):
    """A distribution channel (pilot, production, training).

    Scope: org units (each with its whole subtree) and/or holder groups; a device belongs to the
    channel when its org unit (or its holder's) is in scope or its holder is in a group. The
    default channel takes every device no other channel claims. ``dhis2_user_groups`` holds
    DHIS2 user-group UIDs for publishing (issue 6)."""

    __tablename__ = "apk_channel"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    dhis2_user_groups: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org_units = relationship("OrgUnit", secondary=apk_channel_org_unit, order_by="OrgUnit.name")
    holder_groups: Mapped[list[HolderGroup]] = relationship(secondary=apk_channel_holder_group,
                                                            order_by="HolderGroup.name")
    pointers: Mapped[list[ChannelPointer]] = relationship(back_populates="channel",
                                                          order_by="ChannelPointer.package")

    __table_args__ = (
        Index("uq_apk_channel_default", "is_default", unique=True,
              sqlite_where=text("is_default"), postgresql_where=text("is_default")),
    )

    @property
    def audit_label(self) -> str:
        return self.name


class ChannelPointer(db.Model):
    """Which release of ``package`` a channel serves.

    Staged rollout: devices whose bucket (0-99, from the device id) is below
    ``rollout_percent`` get ``release``; the others keep ``previous_release`` (None: nothing).
    """

    __tablename__ = "apk_channel_pointer"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("apk_channel.id", ondelete="CASCADE"))
    package: Mapped[str] = mapped_column(String(255))
    release_id: Mapped[int] = mapped_column(ForeignKey("apk_release.id"))
    previous_release_id: Mapped[int | None] = mapped_column(ForeignKey("apk_release.id"))
    rollout_percent: Mapped[int] = mapped_column(Integer, default=100)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(80), default="system")

    channel: Mapped[Channel] = relationship(back_populates="pointers")
    release: Mapped[Release] = relationship(foreign_keys=[release_id])
    previous_release: Mapped[Release | None] = relationship(foreign_keys=[previous_release_id])

    __table_args__ = (
        UniqueConstraint("channel_id", "package", name="uq_apk_channel_pointer_channel_package"),
        CheckConstraint("rollout_percent BETWEEN 0 AND 100", name="rollout_percent"),
    )

    @property
    def audit_label(self) -> str:
        return f"{self.channel.name}: {self.package}"


class PointerHistory(db.Model):
    """Every re-point of a channel (release, rollback, rollout step, withdrawal)."""

    __tablename__ = "apk_pointer_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("apk_channel.id", ondelete="CASCADE"),
                                            index=True)
    package: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(20))
    release_id: Mapped[int | None] = mapped_column(ForeignKey("apk_release.id"))
    previous_release_id: Mapped[int | None] = mapped_column(ForeignKey("apk_release.id"))
    rollout_percent: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    actor_name: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    release: Mapped[Release | None] = relationship(foreign_keys=[release_id])
    previous_release: Mapped[Release | None] = relationship(foreign_keys=[previous_release_id])

    __table_args__ = (CheckConstraint(f"action IN {_in(POINTER_ACTIONS)}", name="action"),)


class DownloadToken(db.Model):
    """A download/update-check token for one channel or one device. Only the SHA-256 of the
    token is stored; the plain token is shown once when issued."""

    __tablename__ = "apk_download_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100), default="")
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("apk_channel.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"),
                                                  index=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    channel: Mapped[Channel | None] = relationship()
    device = relationship("Device")

    __table_args__ = (
        CheckConstraint("(channel_id IS NULL) <> (device_id IS NULL)", name="one_scope"),
    )

    @property
    def audit_label(self) -> str:
        scope = f"channel {self.channel.name}" if self.channel else f"device {self.device_id}"
        return f"{self.prefix}… ({scope})"
