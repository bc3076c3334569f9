"""message subscriptions, delivered messages

Revision ID: 0003_messages
Revises: 0002_timers
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0003_messages"
down_revision = "0002_timers"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
