"""case deadlines: one row per statutory deadline of a case, for the compliance report

Revision ID: 0019_case_deadlines
Revises: 0018_compact_cases

The rows are derived from each case's workflow state and kept by every step from now on; the
cases filed before this table existed are indexed by `flask cases index-deadlines` (it restores
each workflow, which a migration should not do).
"""
from alembic import op
import sqlalchemy as sa

revision = "0019_case_deadlines"
down_revision = "0018_compact_cases"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "case_deadline",
        sa.Column("instance_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("filed_month", sa.String(7), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("met", sa.Boolean()),
    )
    op.create_index("ix_case_deadline_region_month", "case_deadline",
                    ["region", "filed_month", "name", "met", "closed_at", "due_at"])


def downgrade():
    op.drop_index("ix_case_deadline_region_month", table_name="case_deadline")
    op.drop_table("case_deadline")
