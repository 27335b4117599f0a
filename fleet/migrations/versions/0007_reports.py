"""health reports, device health, health tokens, compliance settings, job runs

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-23 01:25:00

Written by hand (see fleet/reports/models.py); constraint names follow fleet/extensions.py.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "health_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("station", sa.String(length=80), nullable=True),
        sa.Column("serial", sa.String(length=64), nullable=True),
        sa.Column("battery_level", sa.Integer(), nullable=True),
        sa.Column("battery_health", sa.String(length=30), nullable=True),
        sa.Column("battery_temperature_c", sa.Float(), nullable=True),
        sa.Column("battery_status", sa.String(length=20), nullable=True),
        sa.Column("battery_charging", sa.Boolean(), nullable=True),
        sa.Column("storage_total_mb", sa.BigInteger(), nullable=True),
        sa.Column("storage_free_mb", sa.BigInteger(), nullable=True),
        sa.Column("ram_total_mb", sa.Integer(), nullable=True),
        sa.Column("ram_available_mb", sa.Integer(), nullable=True),
        sa.Column("android_version", sa.String(length=20), nullable=True),
        sa.Column("api_level", sa.Integer(), nullable=True),
        sa.Column("security_patch", sa.String(length=20), nullable=True),
        sa.Column("uptime_s", sa.BigInteger(), nullable=True),
        sa.Column("crypto_state", sa.String(length=20), nullable=True),
        sa.Column("screen_lock_set", sa.Boolean(), nullable=True),
        sa.Column("packages", sa.JSON(), nullable=False),
        sa.Column("capture_version_code", sa.BigInteger(), nullable=True),
        sa.Column("capture_version_name", sa.String(length=60), nullable=True),
        sa.Column("app_pss_mb", sa.Float(), nullable=True),
        sa.Column("imei", sa.String(length=15), nullable=True),
        sa.Column("iccid", sa.String(length=20), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.CheckConstraint("source IN ('pull','push')", name=op.f("ck_health_report_source")),
        sa.CheckConstraint("battery_level IS NULL OR battery_level BETWEEN 0 AND 100",
                           name=op.f("ck_health_report_battery_level")),
        sa.CheckConstraint("storage_free_mb IS NULL OR storage_free_mb >= 0",
                           name=op.f("ck_health_report_storage_free")),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], ondelete="CASCADE",
                                name=op.f("fk_health_report_device_id_device")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_report")),
        sa.UniqueConstraint("device_id", "report_id", name="uq_health_report_device_id"),
    )
    with op.batch_alter_table("health_report") as batch_op:
        batch_op.create_index("ix_health_report_device_received", ["device_id", "received_at"])

    op.create_table(
        "device_health",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("last_report_id", sa.Integer(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing", sa.JSON(), nullable=False),
        sa.Column("compliant", sa.Boolean(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], ondelete="CASCADE",
                                name=op.f("fk_device_health_device_id_device")),
        sa.ForeignKeyConstraint(["last_report_id"], ["health_report.id"], ondelete="SET NULL",
                                name=op.f("fk_device_health_last_report_id_health_report")),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_health")),
    )
    with op.batch_alter_table("device_health") as batch_op:
        batch_op.create_index(batch_op.f("ix_device_health_last_seen_at"), ["last_seen_at"])
        batch_op.create_index(batch_op.f("ix_device_health_compliant"), ["compliant"])

    op.create_table(
        "health_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], ondelete="CASCADE",
                                name=op.f("fk_health_token_device_id_device")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_health_token_token_hash")),
    )
    with op.batch_alter_table("health_token") as batch_op:
        batch_op.create_index(batch_op.f("ix_health_token_device_id"), ["device_id"])

    op.create_table(
        "compliance_setting",
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_compliance_setting")),
    )

    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=60), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("host", sa.String(length=120), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.CheckConstraint("outcome IN ('running','success','failure')",
                           name=op.f("ck_job_run_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_run")),
        sa.UniqueConstraint("job_id", "slot", name="uq_job_run_job_id"),
    )
    with op.batch_alter_table("job_run") as batch_op:
        batch_op.create_index("ix_job_run_job_started", ["job_id", "started_at"])


def downgrade():
    op.drop_table("job_run")
    op.drop_table("compliance_setting")
    op.drop_table("health_token")
    op.drop_table("device_health")
    op.drop_table("health_report")
