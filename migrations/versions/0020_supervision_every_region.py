"""supervision of every region: overdue tasks by due time without a region

Revision ID: 0020_supervision_every_region
Revises: 0022_document_store

An administrator's supervision list (every region) asked for the overdue tasks of a role in due
order with no region: the queue index (status, role, region, due_at, ...) cannot give that order
across regions, so SQLite sorted every open task of the role on each page (bench/scale.py:
supervision of every region 1.49 at 600,000 against 6,000 cases). This index walks it in order.
"""
from alembic import op

revision = "0020_supervision_every_region"
down_revision = "0022_document_store"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_human_task_overdue", "human_task", ["status", "role", "due_at", "created_at", "id"])


def downgrade():
    op.drop_index("ix_human_task_overdue", table_name="human_task")
