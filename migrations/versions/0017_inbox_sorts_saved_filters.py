"""inbox: the case number on each task row (sortable), the other sort orders' indexes, saved filters

Revision ID: 0017_inbox_sorts_saved_filters
Revises: 0016_case_name_search
"""
from alembic import op
import sqlalchemy as sa

revision = "0017_inbox_sorts_saved_filters"
down_revision = "0016_case_name_search"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(sa.Column("case_key", sa.String(200), nullable=True))
    # Existing rows take their instance's business key (a case's application number) or its id.
    op.execute("UPDATE human_task SET case_key = (SELECT COALESCE(process_instance.business_key, "
               "process_instance.id) FROM process_instance WHERE process_instance.id = human_task.instance_id)")
    op.execute("UPDATE human_task SET case_key = instance_id WHERE case_key IS NULL")
    with op.batch_alter_table("human_task") as batch:
        batch.alter_column("case_key", existing_type=sa.String(200), nullable=False)
    op.create_index("ix_human_task_queue_created", "human_task",
                    ["status", "role", "region", "created_at", "id"])
    op.create_index("ix_human_task_queue_step", "human_task",
                    ["status", "role", "region", "name", "created_at", "id"])
    op.create_index("ix_human_task_queue_case", "human_task", ["status", "role", "region", "case_key", "id"])
    op.create_table(
        "saved_filter",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("query", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("username", "name", name="uq_saved_filter_username_name"),
    )


def downgrade():
    op.drop_table("saved_filter")
    op.drop_index("ix_human_task_queue_case", table_name="human_task")
    op.drop_index("ix_human_task_queue_step", table_name="human_task")
    op.drop_index("ix_human_task_queue_created", table_name="human_task")
    with op.batch_alter_table("human_task") as batch:
        batch.drop_column("case_key")
