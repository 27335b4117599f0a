"""Health reports, per-device health tokens, the latest state per device, compliance
thresholds and scheduled job runs.

Every measured field is nullable: None means "could not be read" (unknown), never zero.
Units: MB are MiB (Android's ``/proc/meminfo`` kB and ``df`` 1K-blocks are binary units),
temperature in degrees Celsius, uptime in seconds.
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
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fleet.extensions import UTCDateTime, db
from fleet.timeutil import utcnow

REPORT_SOURCES = ("pull", "push")
JOB_OUTCOMES = ("running", "success", "failure")
#: The package whose version and memory the reports track above all (DESIGN.md).
CAPTURE_PACKAGE = "com.dhis2"


def _in(values) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


class HealthReport(db.Model):
    """One health report of one device, pulled over ADB or pushed over HTTPS."""

    __tablename__ = "health_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"))
    #: Idempotency key: a second report with the same id for the same device is refused.
    report_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(10))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the agent measured (push), or when the pull ran; may differ from received_at.
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    station: Mapped[str | None] = mapped_column(String(80))
    serial: Mapped[str | None] = mapped_column(String(64))
    battery_level: Mapped[int | None] = mapped_column(Integer)
    battery_health: Mapped[str | None] = mapped_column(String(30))
    battery_temperature_c: Mapped[float | None] = mapped_column(Float)
    battery_status: Mapped[str | None] = mapped_column(String(20))
    battery_charging: Mapped[bool | None] = mapped_column(Boolean)
    storage_total_mb: Mapped[int | None] = mapped_column(BigInteger)
    storage_free_mb: Mapped[int | None] = mapped_column(BigInteger)
    ram_total_mb: Mapped[int | None] = mapped_column(Integer)
    ram_available_mb: Mapped[int | None] = mapped_column(Integer)
    android_version: Mapped[str | None] = mapped_column(String(20))
    api_level: Mapped[int | None] = mapped_column(Integer)
    security_patch: Mapped[str | None] = mapped_column(String(20))
    uptime_s: Mapped[int | None] = mapped_column(BigInteger)
    #: ``ro.crypto.state``: encrypted, unencrypted, unsupported.
    crypto_state: Mapped[str | None] = mapped_column(String(20))
    screen_lock_set: Mapped[bool | None] = mapped_column(Boolean)
    #: ``{package: {"version_code": int|None, "version_name": str|None}}``.
    packages: Mapped[dict] = mapped_column(JSON, default=dict)
    capture_version_code: Mapped[int | None] = mapped_column(BigInteger)
    capture_version_name: Mapped[str | None] = mapped_column(String(60))
    #: Capture app TOTAL PSS in MB (kB / 1024), the capacity model's calibration input.
    app_pss_mb: Mapped[float | None] = mapped_column(Float)
    imei: Mapped[str | None] = mapped_column(String(15))
    iccid: Mapped[str | None] = mapped_column(String(20))
    #: ``{command: output}`` as the phone printed it (pull) or as the agent sent it (push).
    raw: Mapped[dict] = mapped_column(JSON, default=dict)

    device = relationship("Device")

    __table_args__ = (
        UniqueConstraint("device_id", "report_id", name="uq_health_report_device_id"),
        Index("ix_health_report_device_received", "device_id", "received_at"),
        CheckConstraint(f"source IN {_in(REPORT_SOURCES)}", name="source"),
        CheckConstraint("battery_level IS NULL OR battery_level BETWEEN 0 AND 100",
                        name="battery_level"),
        CheckConstraint("storage_free_mb IS NULL OR storage_free_mb >= 0", name="storage_free"),
    )

    @property
    def audit_label(self) -> str:
        return f"health report {self.report_id}"


class DeviceHealth(db.Model):
    """The latest report and compliance verdict of a device (one row per device), kept so the
    dashboard and /metrics read one row per device instead of scanning the report history."""

    __tablename__ = "device_health"

    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"),
                                           primary_key=True)
    last_report_id: Mapped[int | None] = mapped_column(
        ForeignKey("health_report.id", ondelete="SET NULL"))
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    #: ``[{"rule": ..., "message": ..., "evidence": {...}}]`` of the failing rules.
    failing: Mapped[list] = mapped_column(JSON, default=list)
    compliant: Mapped[bool | None] = mapped_column(Boolean, index=True)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    device = relationship("Device")
    last_report: Mapped[HealthReport | None] = relationship()


class HealthToken(db.Model):
    """A per-device token an agent or MDM webhook uses to push that device's reports. Only the
    SHA-256 is stored; the plain token (``fdh_...``) is shown once."""

    __tablename__ = "health_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"),
                                           index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    device = relationship("Device")

    @property
    def audit_label(self) -> str:
        return f"{self.prefix}… (device {self.device_id})"


class ComplianceSetting(db.Model):
    """A compliance threshold overriding the default in ``compliance.DEFAULTS``."""

    __tablename__ = "compliance_setting"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(80))

    @property
    def audit_label(self) -> str:
        return self.key


class JobRun(db.Model):
    """One run of a scheduled job. ``slot`` numbers the job's interval (epoch seconds // the
    interval); the unique (job_id, slot) is what makes a job run once per interval when
    several processes run a scheduler."""

    __tablename__ = "job_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(60))
    slot: Mapped[int] = mapped_column(BigInteger)
    host: Mapped[str] = mapped_column(String(120), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(10), default="running")
    message: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        UniqueConstraint("job_id", "slot", name="uq_job_run_job_id"),
        Index("ix_job_run_job_started", "job_id", "started_at"),
        CheckConstraint(f"outcome IN {_in(JOB_OUTCOMES)}", name="outcome"),
    )
