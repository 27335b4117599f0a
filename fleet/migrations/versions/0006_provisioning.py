# ruff: noqa: E501
"""provisioning: profiles, stations, runs, per-phone items and step records, installed packages

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-23 01:30:00

Written by hand from the models (fleet/provisioning/models.py). Release and channel references
are plain ids/names: the apk tables live in another branch.
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('provisioning_profile',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('channel_name', sa.String(length=60), nullable=True),
    sa.Column('packages', sa.JSON(), nullable=False),
    sa.Column('release_ids', sa.JSON(), nullable=False),
    sa.Column('pin_policy', sa.String(length=10), nullable=False),
    sa.Column('pin', sa.String(length=512), nullable=True),
    sa.Column('pin_length', sa.Integer(), nullable=False),
    sa.Column('require_encryption', sa.Boolean(), nullable=False),
    sa.Column('location_on', sa.Boolean(), nullable=False),
    sa.Column('auto_time', sa.Boolean(), nullable=False),
    sa.Column('screen_off_timeout_s', sa.Integer(), nullable=True),
    sa.Column('play_store', sa.String(length=20), nullable=False),
    sa.Column('permissions', sa.JSON(), nullable=False),
    sa.Column('min_api_level', sa.Integer(), nullable=True),
    sa.Column('min_ram_mb', sa.Integer(), nullable=True),
    sa.Column('min_free_storage_mb', sa.Integer(), nullable=True),
    sa.Column('min_battery', sa.Integer(), nullable=True),
    sa.Column('dhis2_settings_profile', sa.String(length=60), nullable=True),
    sa.Column('capacity_check', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("capacity_check IN ('off','warn','block')", name=op.f('ck_provisioning_profile_capacity_check')),
    sa.CheckConstraint("pin_policy IN ('none','profile','random')", name=op.f('ck_provisioning_profile_pin_policy')),
    sa.CheckConstraint("play_store IN ('leave','no_auto_update','disabled')", name=op.f('ck_provisioning_profile_play_store')),
    sa.CheckConstraint('pin_length BETWEEN 4 AND 16', name=op.f('ck_provisioning_profile_pin_length')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provisioning_profile')),
    sa.UniqueConstraint('name', name=op.f('uq_provisioning_profile_name'))
    )
    op.create_table('provisioning_station',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('adb_host', sa.String(length=255), nullable=False),
    sa.Column('adb_port', sa.Integer(), nullable=False),
    sa.Column('ssh_host', sa.String(length=255), nullable=True),
    sa.Column('ssh_port', sa.Integer(), nullable=False),
    sa.Column('ssh_username', sa.String(length=100), nullable=True),
    sa.Column('private_key', sa.Text(), nullable=True),
    sa.Column('known_hosts', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('local','ssh')", name=op.f('ck_provisioning_station_kind')),
    sa.CheckConstraint('adb_port BETWEEN 1 AND 65535', name=op.f('ck_provisioning_station_adb_port')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provisioning_station')),
    sa.UniqueConstraint('name', name=op.f('uq_provisioning_station_name'))
    )
    op.create_table('provisioning_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('profile_id', sa.Integer(), nullable=False),
    sa.Column('profile_version', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('started_by', sa.String(length=80), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.CheckConstraint("status IN ('running','finished','interrupted')", name=op.f('ck_provisioning_run_status')),
    sa.ForeignKeyConstraint(['profile_id'], ['provisioning_profile.id'], name=op.f('fk_provisioning_run_profile_id_provisioning_profile')),
    sa.ForeignKeyConstraint(['station_id'], ['provisioning_station.id'], name=op.f('fk_provisioning_run_station_id_provisioning_station')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provisioning_run'))
    )
    op.create_table('provisioning_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('adb_serial', sa.String(length=100), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=True),
    sa.Column('imei', sa.String(length=15), nullable=True),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('step', sa.String(length=20), nullable=True),
    sa.Column('resume_step', sa.String(length=20), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('pin', sa.String(length=512), nullable=True),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending','running','unready','gone','failed','done')", name=op.f('ck_provisioning_item_status')),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_provisioning_item_device_id_device')),
    sa.ForeignKeyConstraint(['run_id'], ['provisioning_run.id'], name=op.f('fk_provisioning_item_run_id_provisioning_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provisioning_item')),
    sa.UniqueConstraint('run_id', 'adb_serial', name='uq_provisioning_item_run_adb_serial')
    )
    op.create_table('provisioning_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('output', sa.Text(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('ok','warn','skipped','failed','gone')", name=op.f('ck_provisioning_step_status')),
    sa.ForeignKeyConstraint(['item_id'], ['provisioning_item.id'], name=op.f('fk_provisioning_step_item_id_provisioning_item'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provisioning_step'))
    )
    op.create_table('device_installed_package',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('package', sa.String(length=255), nullable=False),
    sa.Column('version_code', sa.BigInteger(), nullable=False),
    sa.Column('version_name', sa.String(length=100), nullable=True),
    sa.Column('signer_sha256', sa.String(length=64), nullable=True),
    sa.Column('item_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_device_installed_package_device_id_device'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['provisioning_item.id'], name=op.f('fk_device_installed_package_item_id_provisioning_item')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_installed_package')),
    sa.UniqueConstraint('device_id', 'package', name='uq_device_installed_package_device_package')
    )

    op.create_index(op.f("ix_provisioning_run_profile_id"), "provisioning_run", ["profile_id"])
    op.create_index(op.f("ix_provisioning_item_run_id"), "provisioning_item", ["run_id"])
    op.create_index(op.f("ix_provisioning_item_device_id"), "provisioning_item", ["device_id"])
    op.create_index(op.f("ix_provisioning_step_item_id"), "provisioning_step", ["item_id"])
    op.create_index(op.f("ix_device_installed_package_device_id"), "device_installed_package",
                    ["device_id"])


def downgrade():
    op.drop_table("device_installed_package")
    op.drop_table("provisioning_step")
    op.drop_table("provisioning_item")
    op.drop_table("provisioning_run")
    op.drop_table("provisioning_station")
    op.drop_table("provisioning_profile")
