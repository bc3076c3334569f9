"""stay fast at scale: list indexes in page order, the quota's use as a counter

Revision ID: 0012_scale
Revises: 0011_client_contract

Every GET /cases filter (alone and with a region) and the inbox queue walk an index in the order
they page, so a page costs the same with six thousand cases or six hundred thousand.
`process_instance.compacted_at` marks a finished instance whose task tree retention replaced by
the path it took (engine/retention.py); receipts and correlation keys are indexed by age for it.
`quota_usage` keeps the held and taken units of each region-year, changed in the transaction of
every hold, take and release; it starts from the units stored now.
"""
from alembic import op
import sqlalchemy as sa

revision = "0012_scale"
down_revision = "0011_client_contract"
branch_labels = None
depends_on = None

CASE_INDEXES = {
    "ix_case_created": ["created_at", "id"],
    "ix_case_kind_created": ["kind", "created_at", "id"],
    "ix_case_region_kind_created": ["region", "kind", "created_at", "id"],
    "ix_case_outcome_created": ["outcome_code", "created_at", "id"],
    "ix_case_region_outcome_created": ["region", "outcome_code", "created_at", "id"],
    "ix_case_applicant_created": ["applicant_iin", "created_at", "id"],
}
# Single-column indexes the composite ones above lead with.
OLD_CASE_INDEXES = {
    "ix_permit_case_region": ["region"],
    "ix_permit_case_applicant_iin": ["applicant_iin"],
    "ix_permit_case_outcome_code": ["outcome_code"],
    "ix_permit_case_created_at": ["created_at"],
}


def upgrade():
    for name in OLD_CASE_INDEXES:
        op.drop_index(name, table_name="permit_case")
    op.drop_index("ix_case_region_created", table_name="permit_case")
    op.create_index("ix_case_region_created", "permit_case", ["region", "created_at", "id"])
    for name, columns in CASE_INDEXES.items():
        op.create_index(name, "permit_case", columns)

    op.drop_index("ix_process_instance_status", table_name="process_instance")
    op.create_index("ix_instance_status_created", "process_instance", ["status", "created_at", "id"])
    op.create_index("ix_instance_status_region_created", "process_instance",
                    ["status", "region", "created_at", "id"])

    op.drop_index("ix_human_task_queue", table_name="human_task")
    op.create_index("ix_human_task_queue", "human_task",
                    ["status", "role", "region", "due_at", "created_at", "id"])
    op.create_index("ix_human_task_escalated", "human_task", ["status", "escalated", "role", "region"])

    op.drop_index("ix_timer_due", table_name="timer")
    op.create_index("ix_timer_due", "timer", ["due_at", "id", "lease_until"])
    op.drop_index("ix_job_due", table_name="job")
    op.create_index("ix_job_due", "job", ["status", "due_at", "id", "lease_until"])

    op.add_column("process_instance", sa.Column("compacted_at", sa.DateTime(timezone=True)))
    op.create_index("ix_instance_compaction", "process_instance", ["compacted_at", "status", "completed_at"])
    op.create_index("ix_message_receipt_at", "message_receipt", ["at"])
    op.create_index("ix_correlation_key_first_at", "correlation_key", ["first_at"])

    op.create_table(
        "quota_usage",
        sa.Column("region", sa.String(20), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
    )
    op.execute(
        "INSERT INTO quota_usage (region, year, held, taken) "
        "SELECT region, year, "
        "SUM(CASE WHEN status = 'held' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status = 'taken' THEN 1 ELSE 0 END) "
        "FROM quota_unit GROUP BY region, year")


def downgrade():
    op.drop_table("quota_usage")
    op.drop_index("ix_correlation_key_first_at", table_name="correlation_key")
    op.drop_index("ix_message_receipt_at", table_name="message_receipt")
    op.drop_index("ix_instance_compaction", table_name="process_instance")
    with op.batch_alter_table("process_instance") as batch_op:
        batch_op.drop_column("compacted_at")
    op.drop_index("ix_job_due", table_name="job")
    op.create_index("ix_job_due", "job", ["status", "due_at"])
    op.drop_index("ix_timer_due", table_name="timer")
    op.create_index("ix_timer_due", "timer", ["due_at", "lease_until"])
    op.drop_index("ix_human_task_escalated", table_name="human_task")
    op.drop_index("ix_human_task_queue", table_name="human_task")
    op.create_index("ix_human_task_queue", "human_task", ["status", "role", "region", "due_at"])
    op.drop_index("ix_instance_status_region_created", table_name="process_instance")
    op.drop_index("ix_instance_status_created", table_name="process_instance")
    op.create_index("ix_process_instance_status", "process_instance", ["status"])
    for name in CASE_INDEXES:
        op.drop_index(name, table_name="permit_case")
    op.drop_index("ix_case_region_created", table_name="permit_case")
    op.create_index("ix_case_region_created", "permit_case", ["region", "created_at"])
    for name, columns in OLD_CASE_INDEXES.items():
        op.create_index(name, "permit_case", columns)
