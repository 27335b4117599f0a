"""dhis2: servers, user groups, Android settings profiles, publications

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23 01:00:00

Written by hand (see fleet/migrations/README). Org units imported from DHIS2 use the
inventory's ``org_unit`` table as it is: no column added.
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

DATA_SYNC = "('30m','1h','6h','12h','24h','manual')"
METADATA_SYNC = "('1h','6h','12h','24h','7d','manual')"


def upgrade():
    op.create_table(
        "dhis2_server",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("base_url", sa.String(length=300), nullable=False),
        sa.Column("auth_kind", sa.String(length=10), nullable=False),
        sa.Column("token", sa.String(length=512), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("password", sa.String(length=512), nullable=True),
        sa.Column("ca_bundle", sa.String(length=400), nullable=True),
        sa.Column("verify_tls", sa.Boolean(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("auth_kind IN ('token','basic')",
                           name=op.f("ck_dhis2_server_auth_kind")),
        sa.CheckConstraint("timeout_seconds BETWEEN 1 AND 600",
                           name=op.f("ck_dhis2_server_timeout")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhis2_server")),
        sa.UniqueConstraint("name", name=op.f("uq_dhis2_server_name")),
    )
    op.create_index("uq_dhis2_server_default", "dhis2_server", ["is_default"], unique=True,
                    sqlite_where=sa.text("is_default"), postgresql_where=sa.text("is_default"))

    op.create_table(
        "dhis2_user_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=11), nullable=False),
        sa.Column("name", sa.String(length=230), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=True),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["server_id"], ["dhis2_server.id"], ondelete="CASCADE",
                                name=op.f("fk_dhis2_user_group_server_id_dhis2_server")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhis2_user_group")),
        sa.UniqueConstraint("server_id", "uid", name="uq_dhis2_user_group_server_uid"),
    )

    op.create_table(
        "dhis2_settings_profile",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("encrypt_db", sa.Boolean(), nullable=True),
        sa.Column("allow_screen_capture", sa.Boolean(), nullable=True),
        sa.Column("reserved_values", sa.Integer(), nullable=True),
        sa.Column("data_sync", sa.String(length=10), nullable=True),
        sa.Column("metadata_sync", sa.String(length=10), nullable=True),
        sa.Column("tei_download", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"data_sync IS NULL OR data_sync IN {DATA_SYNC}",
                           name=op.f("ck_dhis2_settings_profile_data_sync")),
        sa.CheckConstraint(f"metadata_sync IS NULL OR metadata_sync IN {METADATA_SYNC}",
                           name=op.f("ck_dhis2_settings_profile_metadata_sync")),
        sa.CheckConstraint("reserved_values IS NULL OR reserved_values BETWEEN 0 AND 500",
                           name=op.f("ck_dhis2_settings_profile_reserved_values")),
        sa.CheckConstraint("tei_download IS NULL OR tei_download BETWEEN 0 AND 100000",
                           name=op.f("ck_dhis2_settings_profile_tei_download")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_dhis2_settings_profile_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhis2_settings_profile")),
        sa.UniqueConstraint("name", name=op.f("uq_dhis2_settings_profile_name")),
    )

    op.create_table(
        "dhis2_publication",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("namespace", sa.String(length=60), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=True),
        sa.Column("profile_version", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=80), nullable=False),
        sa.Column("written", sa.Boolean(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("diff", sa.JSON(), nullable=False),
        sa.CheckConstraint("kind IN ('android_settings','apk_distribution')",
                           name=op.f("ck_dhis2_publication_kind")),
        sa.ForeignKeyConstraint(["server_id"], ["dhis2_server.id"],
                                name=op.f("fk_dhis2_publication_server_id_dhis2_server")),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["dhis2_settings_profile.id"], ondelete="SET NULL",
            name=op.f("fk_dhis2_publication_profile_id_dhis2_settings_profile")),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"], ondelete="SET NULL",
                                name=op.f("fk_dhis2_publication_actor_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhis2_publication")),
    )
    op.create_index(op.f("ix_dhis2_publication_at"), "dhis2_publication", ["at"])
    op.create_index(op.f("ix_dhis2_publication_server_id"), "dhis2_publication", ["server_id"])

    op.create_table(
        "dhis2_channel_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("download_token_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhis2_channel_token")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_dhis2_channel_token_channel_id")),
    )


def downgrade():
    op.drop_table("dhis2_channel_token")
    op.drop_index(op.f("ix_dhis2_publication_server_id"), table_name="dhis2_publication")
    op.drop_index(op.f("ix_dhis2_publication_at"), table_name="dhis2_publication")
    op.drop_table("dhis2_publication")
    op.drop_table("dhis2_settings_profile")
    op.drop_table("dhis2_user_group")
    op.drop_index("uq_dhis2_server_default", table_name="dhis2_server")
    op.drop_table("dhis2_server")
