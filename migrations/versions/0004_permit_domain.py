"""permit domain registers and reference data

Revision ID: 0004_permit_domain
Revises: 0003_messages
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0004_permit_domain"
down_revision = "0003_messages"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
