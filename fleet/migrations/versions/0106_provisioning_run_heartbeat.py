"""provisioning runs: the process driving a run and its heartbeat (issue 9, item 3)

Revision ID: 0106
Revises: 0100
Create Date: 2026-11-23 12:00:00

A run whose process died (SIGKILL, a restart) stayed ``running`` for good; with a heartbeat it
is recognised as interrupted and can be resumed.
"""
import sqlalchemy as sa
from alembic import op

revision = "0106"
down_revision = "0100"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("provisioning_run") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("provisioning_run") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner")
