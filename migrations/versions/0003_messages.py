"""message subscriptions, delivered messages; the audit log made append-only

Revision ID: 0003_messages
Revises: 0002_timers
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_messages"
down_revision = "0002_timers"
branch_labels = None
depends_on = None

# The audit log refuses UPDATE and DELETE in the database too, not only in the code.
# (PostgreSQL row triggers do not fire on TRUNCATE; revoke it from the application's role.)
PG_APPEND_ONLY = [
    """CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP;
END
$$""",
    """CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
FOR EACH ROW EXECUTE PROCEDURE audit_event_append_only()""",
]
SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END""",
]


def upgrade():
    op.create_table(
        "message_subscription",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("correlation", sa.String(length=200), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("bpmn_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "correlation", "instance_id", "task_id", name="uq_message_subscription"),
    )
    with op.batch_alter_table("message_subscription", schema=None) as batch_op:
        batch_op.create_index("ix_message_subscription_instance", ["instance_id", "task_id"], unique=False)

    op.create_table(
        "correlation_key",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("correlation", sa.String(length=200), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "correlation", "instance_id", name="uq_correlation_key"),
    )
    with op.batch_alter_table("correlation_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_correlation_key_instance_id"), ["instance_id"], unique=False)

    op.create_table(
        "message_receipt",
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("correlation", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )

    dialect = op.get_bind().dialect.name
    for statement in {"postgresql": PG_APPEND_ONLY, "sqlite": SQLITE_APPEND_ONLY}.get(dialect, []):
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
    op.drop_table("message_receipt")
    with op.batch_alter_table("correlation_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_correlation_key_instance_id"))
    op.drop_table("correlation_key")
    with op.batch_alter_table("message_subscription", schema=None) as batch_op:
        batch_op.drop_index("ix_message_subscription_instance")
    op.drop_table("message_subscription")
