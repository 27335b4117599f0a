"""Provisioning tables: profiles (what to do to a phone), stations (where the adb server is),
runs, one item per phone in a run, and one row per step attempt.

Secrets (profile PIN, per-phone random PIN, SSH private key) are ``EncryptedText`` columns named
``pin`` / ``private_key`` so the audit log masks them (``fleet.audit.operations.SECRET_COLUMNS``).
Releases and channels are referenced by id without a foreign key: they live in the ``apk``
migration branch, which may be applied after this one (``upgrade heads``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fleet.crypto import EncryptedText
from fleet.extensions import UTCDateTime, db
from fleet.inventory.models import Device
from fleet.timeutil import utcnow

PIN_POLICIES = ("none", "profile", "random")
PLAY_STORE_POLICIES = ("leave", "no_auto_update", "disabled")
CAPACITY_CHECKS = ("off", "warn", "block")
STATION_KINDS = ("local", "ssh")
RUN_STATUSES = ("running", "finished", "interrupted")
#: Per-phone outcomes. ``unready``: unauthorized/offline; ``gone``: unplugged mid-pipeline;
#: ``failed``: a step refused (resumable at ``resume_step``); ``done``: verified and recorded.
ITEM_STATUSES = ("pending", "running", "unready", "gone", "failed", "done")
STEP_STATUSES = ("ok", "warn", "skipped", "failed", "gone")
#: The pipeline, in order (issue 7, item 7).
STEPS = ("preflight", "install", "settings", "pin", "permissions", "verify", "record")


def _in(values) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


class EncryptedLongText(EncryptedText):
    """``EncryptedText`` in a TEXT column (an SSH key's Fernet token passes 512 characters)."""

    impl = Text
    cache_ok = True


class Profile(db.Model):
    """A named, versioned provisioning profile. ``version`` goes up on every change."""

    __tablename__ = "provisioning_profile"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    description: Mapped[str] = mapped_column(Text, default="")
    #: Channel whose current releases to install (by name), and/or explicit release ids.
    channel_name: Mapped[str | None] = mapped_column(String(60))
    packages: Mapped[list] = mapped_column(JSON, default=list)
    release_ids: Mapped[list] = mapped_column(JSON, default=list)
    pin_policy: Mapped[str] = mapped_column(String(10), default="none")
    pin: Mapped[str | None] = mapped_column(EncryptedText())
    pin_length: Mapped[int] = mapped_column(Integer, default=6)
    require_encryption: Mapped[bool] = mapped_column(Boolean, default=True)
    location_on: Mapped[bool] = mapped_column(Boolean, default=True)
    auto_time: Mapped[bool] = mapped_column(Boolean, default=True)
    screen_off_timeout_s: Mapped[int | None] = mapped_column(Integer)
    play_store: Mapped[str] = mapped_column(String(20), default="leave")
    #: ``[{"package": ..., "permission": ...}]`` runtime permissions to grant.
    permissions: Mapped[list] = mapped_column(JSON, default=list)
    min_api_level: Mapped[int | None] = mapped_column(Integer)
    min_ram_mb: Mapped[int | None] = mapped_column(Integer)
    min_free_storage_mb: Mapped[int | None] = mapped_column(Integer)
    min_battery: Mapped[int | None] = mapped_column(Integer)
    dhis2_settings_profile: Mapped[str | None] = mapped_column(String(60))
    capacity_check: Mapped[str] = mapped_column(String(10), default="warn")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow,
                                                 onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(f"pin_policy IN {_in(PIN_POLICIES)}", name="pin_policy"),
        CheckConstraint(f"play_store IN {_in(PLAY_STORE_POLICIES)}", name="play_store"),
        CheckConstraint(f"capacity_check IN {_in(CAPACITY_CHECKS)}", name="capacity_check"),
        CheckConstraint("pin_length BETWEEN 4 AND 16", name="pin_length"),
    )

    @property
    def audit_label(self) -> str:
        return f"{self.name} v{self.version}"


class Station(db.Model):
    """Where the adb server runs: ``local`` (adb_host:adb_port) or ``ssh`` (the adb server on
    the SSH host's loopback ``adb_port``, reached through a direct-tcpip tunnel)."""

    __tablename__ = "provisioning_station"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[str] = mapped_column(String(10), default="local")
    adb_host: Mapped[str] = mapped_column(String(255), default="127.0.0.1")
    adb_port: Mapped[int] = mapped_column(Integer, default=5037)
    ssh_host: Mapped[str | None] = mapped_column(String(255))
    ssh_port: Mapped[int] = mapped_column(Integer, default=22)
    ssh_username: Mapped[str | None] = mapped_column(String(100))
    private_key: Mapped[str | None] = mapped_column(EncryptedLongText())
    known_hosts: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (CheckConstraint(f"kind IN {_in(STATION_KINDS)}", name="kind"),
                      CheckConstraint("adb_port BETWEEN 1 AND 65535", name="adb_port"))

    @property
    def audit_label(self) -> str:
        return self.name

    # The attribute names fleet.provisioning.stations.open_station reads.
    @property
    def ssh_private_key(self) -> str | None:
        return self.private_key

    @property
    def ssh_known_hosts(self) -> str | None:
        return self.known_hosts


class Run(db.Model):
    """One provisioning session at a station with one profile version."""

    __tablename__ = "provisioning_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("provisioning_profile.id"), index=True)
    profile_version: Mapped[int] = mapped_column(Integer)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("provisioning_station.id"))
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_by: Mapped[str] = mapped_column(String(80), default="system")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    #: The process driving the run (``host pid N``) and its last sign of life: a ``running``
    #: run whose heartbeat is older than PROVISIONING_RUN_STALE_S lost that process (killed,
    #: server restarted) and is shown ``interrupted`` (:func:`fleet.provisioning.runs.
    #: interrupt_stale_runs`).
    owner: Mapped[str | None] = mapped_column(String(120))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    profile: Mapped[Profile] = relationship()
    station: Mapped[Station | None] = relationship()
    items: Mapped[list[RunItem]] = relationship(back_populates="run", order_by="RunItem.id")

    __table_args__ = (CheckConstraint(f"status IN {_in(RUN_STATUSES)}", name="status"),)

    @property
    def audit_label(self) -> str:
        return f"run {self.id}"


class RunItem(db.Model):
    """One phone in a run: what it reported, how far it got and where it resumes."""

    __tablename__ = "provisioning_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("provisioning_run.id", ondelete="CASCADE"),
                                        index=True)
    #: adb transport serial (USB serial, or 127.0.0.1:PORT for TCP phones) last seen.
    adb_serial: Mapped[str] = mapped_column(String(100))
    #: The phone's own serial (ro.serialno); None while it is unauthorized.
    serial: Mapped[str | None] = mapped_column(String(64))
    imei: Mapped[str | None] = mapped_column(String(15))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    step: Mapped[str | None] = mapped_column(String(20))
    #: The step the next attempt starts at (None: from the beginning).
    resume_step: Mapped[str | None] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")
    #: Random per-phone PIN (policy ``random``), printed on the handover slip only.
    pin: Mapped[str | None] = mapped_column(EncryptedText())
    facts: Mapped[dict] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    run: Mapped[Run] = relationship(back_populates="items")
    device: Mapped[Device | None] = relationship()
    steps: Mapped[list[StepRecord]] = relationship(back_populates="item",
                                                   order_by="StepRecord.id")

    __table_args__ = (
        CheckConstraint(f"status IN {_in(ITEM_STATUSES)}", name="status"),
        UniqueConstraint("run_id", "adb_serial", name="uq_provisioning_item_run_adb_serial"),
    )

    @property
    def audit_label(self) -> str:
        return f"run {self.run_id} phone {self.serial or self.adb_serial}"


class StepRecord(db.Model):
    """One attempt of one step on one phone: outcome, output (secrets redacted), seconds."""

    __tablename__ = "provisioning_step"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("provisioning_item.id", ondelete="CASCADE"),
                                         index=True)
    step: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    output: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    item: Mapped[RunItem] = relationship(back_populates="steps")

    __table_args__ = (CheckConstraint(f"status IN {_in(STEP_STATUSES)}", name="status"),)


class InstalledPackage(db.Model):
    """What a verified provisioning left on a device: package, versionCode, signer."""

    __tablename__ = "device_installed_package"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"),
                                           index=True)
    package: Mapped[str] = mapped_column(String(255))
    version_code: Mapped[int] = mapped_column(BigInteger)
    version_name: Mapped[str | None] = mapped_column(String(100))
    signer_sha256: Mapped[str | None] = mapped_column(String(64))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("provisioning_item.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("device_id", "package",
                                       name="uq_device_installed_package_device_package"),)
