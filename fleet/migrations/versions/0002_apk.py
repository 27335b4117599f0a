"""APK repository: releases, signer pins, holder groups, channels, pointers, tokens

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 01:10:00

Written by hand (see fleet/apk/models.py); constraint names follow fleet/extensions.py.
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATUSES = ("uploaded", "vetted", "rejected", "in_testing", "approved", "released",
            "superseded", "withdrawn")
ACTIONS = ("release", "rollback", "rollout", "withdraw")


def _in(values):
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


def _ts(name, nullable=True):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade():
    op.create_table(
        "apk_release",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package", sa.String(255), nullable=True),
        sa.Column("version_code", sa.BigInteger(), nullable=True),
        sa.Column("version_name", sa.String(100), nullable=True),
        sa.Column("min_sdk", sa.Integer(), nullable=True),
        sa.Column("target_sdk", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("signer_sha256", sa.String(64), nullable=True),
        sa.Column("signer_subject", sa.String(500), nullable=True),
        sa.Column("schemes", sa.String(40), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("release_notes", sa.Text(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_by", sa.String(80), nullable=False),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_by", sa.String(80), nullable=True),
        _ts("created_at", False), _ts("vetted_at"), _ts("approved_at"), _ts("released_at"),
        _ts("withdrawn_at"), _ts("updated_at", False),
        sa.CheckConstraint(f"status IN {_in(STATUSES)}", name=op.f("ck_apk_release_status")),
        sa.CheckConstraint("size >= 0", name=op.f("ck_apk_release_size")),
        sa.ForeignKeyConstraint(["uploaded_by_id"], ["user.id"],
                                name=op.f("fk_apk_release_uploaded_by_id_user")),
        sa.ForeignKeyConstraint(["approved_by_id"], ["user.id"],
                                name=op.f("fk_apk_release_approved_by_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apk_release")),
        sa.UniqueConstraint("sha256", name=op.f("uq_apk_release_sha256")),
    )
    op.create_index(op.f("ix_apk_release_package"), "apk_release", ["package"])
    op.create_index(op.f("ix_apk_release_status"), "apk_release", ["status"])
    op.create_index("ix_apk_release_package_version_code", "apk_release",
                    ["package", "version_code"])

    op.create_table(
        "apk_signer_pin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package", sa.String(255), nullable=False),
        sa.Column("cert_sha256", sa.String(64), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=True),
        sa.Column("pinned_by", sa.String(80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _ts("pinned_at", False),
        sa.ForeignKeyConstraint(["release_id"], ["apk_release.id"],
                                name=op.f("fk_apk_signer_pin_release_id_apk_release")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apk_signer_pin")),
        sa.UniqueConstraint("package", name=op.f("uq_apk_signer_pin_package")),
    )

    op.create_table(
        "holder_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holder_group")),
        sa.UniqueConstraint("name", name=op.f("uq_holder_group_name")),
    )
    op.create_table(
        "holder_group_member",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["holder_group.id"], ondelete="CASCADE",
                                name=op.f("fk_holder_group_member_group_id_holder_group")),
        sa.ForeignKeyConstraint(["holder_id"], ["holder.id"], ondelete="CASCADE",
                                name=op.f("fk_holder_group_member_holder_id_holder")),
        sa.PrimaryKeyConstraint("group_id", "holder_id", name=op.f("pk_holder_group_member")),
    )

    op.create_table(
        "apk_channel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("dhis2_user_groups", sa.JSON(), nullable=False),
        _ts("created_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apk_channel")),
        sa.UniqueConstraint("name", name=op.f("uq_apk_channel_name")),
    )
    op.create_index("uq_apk_channel_default", "apk_channel", ["is_default"], unique=True,
                    sqlite_where=sa.text("is_default"), postgresql_where=sa.text("is_default"))
    op.create_table(
        "apk_channel_org_unit",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["channel_id"], ["apk_channel.id"], ondelete="CASCADE",
                                name=op.f("fk_apk_channel_org_unit_channel_id_apk_channel")),
        sa.ForeignKeyConstraint(["org_unit_id"], ["org_unit.id"], ondelete="CASCADE",
                                name=op.f("fk_apk_channel_org_unit_org_unit_id_org_unit")),
        sa.PrimaryKeyConstraint("channel_id", "org_unit_id", name=op.f("pk_apk_channel_org_unit")),
    )
    op.create_table(
        "apk_channel_holder_group",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["channel_id"], ["apk_channel.id"], ondelete="CASCADE",
                                name=op.f("fk_apk_channel_holder_group_channel_id_apk_channel")),
        sa.ForeignKeyConstraint(["group_id"], ["holder_group.id"], ondelete="CASCADE",
                                name=op.f("fk_apk_channel_holder_group_group_id_holder_group")),
        sa.PrimaryKeyConstraint("channel_id", "group_id",
                                name=op.f("pk_apk_channel_holder_group")),
    )

    op.create_table(
        "apk_channel_pointer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("package", sa.String(255), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("previous_release_id", sa.Integer(), nullable=True),
        sa.Column("rollout_percent", sa.Integer(), nullable=False),
        _ts("updated_at", False),
        sa.Column("updated_by", sa.String(80), nullable=False),
        sa.CheckConstraint("rollout_percent BETWEEN 0 AND 100",
                           name=op.f("ck_apk_channel_pointer_rollout_percent")),
        sa.ForeignKeyConstraint(["channel_id"], ["apk_channel.id"], ondelete="CASCADE",
                                name=op.f("fk_apk_channel_pointer_channel_id_apk_channel")),
        sa.ForeignKeyConstraint(["release_id"], ["apk_release.id"],
                                name=op.f("fk_apk_channel_pointer_release_id_apk_release")),
        sa.ForeignKeyConstraint(
            ["previous_release_id"], ["apk_release.id"],
            name=op.f("fk_apk_channel_pointer_previous_release_id_apk_release")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apk_channel_pointer")),
        sa.UniqueConstraint("channel_id", "package",
                            name="uq_apk_channel_pointer_channel_package"),
    )
    op.create_table(
        "apk_pointer_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("package", sa.String(255), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=True),
        sa.Column("previous_release_id", sa.Integer(), nullable=True),
        sa.Column("rollout_percent", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("actor_name", sa.String(80), nullable=False),
        _ts("at", False),
        sa.CheckConstraint(f"action IN {_in(ACTIONS)}", name=op.f("ck_apk_pointer_history_action")),
        sa.ForeignKeyConstraint(["channel_id"], ["apk_channel.id"], ondelete="CASCADE",
                                name=op.f("fk_apk_pointer_history_channel_id_apk_channel")),
        sa.ForeignKeyConstraint(["release_id"], ["apk_release.id"],
                                name=op.f("fk_apk_pointer_history_release_id_apk_release")),
        sa.ForeignKeyConstraint(
            ["previous_release_id"], ["apk_release.id"],
            name=op.f("fk_apk_pointer_history_previous_release_id_apk_release")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apk_pointer_history")),
    )
    op.create_index(op.f("ix_apk_pointer_history_channel_id"), "apk_pointer_history",
                    ["channel_id"])

    op.create_table(
        "apk_download_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        _ts("created_at", False), _ts("expires_at"), _ts("revoked_at"), _ts("last_used_at"),
        sa.CheckConstraint("(channel_id IS NULL) <> (device_id IS NULL)",
                           name=op.f("ck_apk_download_token_one_scope")),
        sa.ForeignKeyConstraint(["channel_id"], ["apk_channel.id"], ondelete="CASCADE",
                                name=op.f("fk_apk_download_token_channel_id_apk_channel")),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], ondelete="CASCADE",
                                name=op.f("fk_apk_download_token_device_id_device")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apk_download_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_apk_download_token_token_hash")),
    )
    op.create_index(op.f("ix_apk_download_token_channel_id"), "apk_download_token",
                    ["channel_id"])
    op.create_index(op.f("ix_apk_download_token_device_id"), "apk_download_token", ["device_id"])


def downgrade():
    for name in ("apk_download_token", "apk_pointer_history", "apk_channel_pointer",
                 "apk_channel_holder_group", "apk_channel_org_unit"):
        op.drop_table(name)
    op.drop_index("uq_apk_channel_default", table_name="apk_channel")
    for name in ("apk_channel", "holder_group_member", "holder_group", "apk_signer_pin"):
        op.drop_table(name)
    op.drop_index("ix_apk_release_package_version_code", table_name="apk_release")
    op.drop_index(op.f("ix_apk_release_status"), table_name="apk_release")
    op.drop_index(op.f("ix_apk_release_package"), table_name="apk_release")
    op.drop_table("apk_release")
