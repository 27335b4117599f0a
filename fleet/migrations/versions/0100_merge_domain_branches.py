"""merge domain branches

Revision ID: 0100
Revises: 0002, 0003, 0005, 0006, 0007
Create Date: 2026-11-23 02:11:07.938292

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0100'
down_revision = ('0002', '0003', '0005', '0006', '0007')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
