"""compact finished cases: a notification's text kept once (template, parameters, language);
a decision document's HTML kept gzip'd;
compression dictionaries for finished instances' state;
the audit log archived by month to files with a recorded SHA-256, the only delete its triggers allow

Revision ID: 0018_compact_cases
Revises: 0015_substitution
"""
from alembic import op
import sqlalchemy as sa

revision = "0018_compact_cases"
down_revision = "0015_substitution"
branch_labels = None
depends_on = None


# The audit log stays append-only, with one exception: a row that a recorded archive holds
# (its month, its id within the archive's ids) may be deleted, by `flask retention archive-audit`.
ARCHIVED = ("SELECT 1 FROM audit_archive a WHERE OLD.at >= a.starts_at AND OLD.at < a.ends_at "
            "AND OLD.id BETWEEN a.first_id AND a.last_id")
PG_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (""" + ARCHIVED + """) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP;
END
$$""",
]
PG_OLD = [
    """CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP;
END
$$""",
]
SQLITE_TRIGGERS = [
    "DROP TRIGGER IF EXISTS audit_event_no_delete",
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
WHEN NOT EXISTS (""" + ARCHIVED + """)
BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END""",
]
SQLITE_OLD = [
    "DROP TRIGGER IF EXISTS audit_event_no_delete",
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END""",
]


def upgrade():
    op.create_table(
        "audit_archive",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_id", sa.BigInteger(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("file", sa.String(500), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_audit_archive_month", "audit_archive", ["month"])
    op.create_table(
        "state_dictionary",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("process_id", sa.String(200), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_state_dictionary_process", "state_dictionary", ["process_id", "id"])
    dialect = op.get_bind().dialect.name
    for statement in {"postgresql": PG_TRIGGERS, "sqlite": SQLITE_TRIGGERS}.get(dialect, []):
        op.execute(statement)
    with op.batch_alter_table("case_document") as batch_op:
        batch_op.add_column(sa.Column("html_gz", sa.LargeBinary()))
        batch_op.alter_column("html", existing_type=sa.Text(), nullable=True)
    with op.batch_alter_table("notification") as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(5)))
        batch_op.alter_column("subject", existing_type=sa.String(500), nullable=True)
        batch_op.alter_column("body", existing_type=sa.Text(), nullable=True)


def downgrade():
    dialect = op.get_bind().dialect.name
    for statement in {"postgresql": PG_OLD, "sqlite": SQLITE_OLD}.get(dialect, []):
        op.execute(statement)
    op.drop_index("ix_state_dictionary_process", table_name="state_dictionary")
    op.drop_table("state_dictionary")
    op.drop_index("ix_audit_archive_month", table_name="audit_archive")
    op.drop_table("audit_archive")
    # Rows queued since keep no text: write a placeholder so the old NOT NULL holds.
    op.execute("UPDATE notification SET subject = template WHERE subject IS NULL")
    op.execute("UPDATE notification SET body = '' WHERE body IS NULL")
    with op.batch_alter_table("notification") as batch_op:
        batch_op.alter_column("body", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("subject", existing_type=sa.String(500), nullable=False)
        batch_op.drop_column("language")
    # A document's HTML made since was kept gzip'd: write it back as text before the column goes.
    bind = op.get_bind()
    import gzip
    rows = bind.execute(sa.text("SELECT id, html_gz FROM case_document WHERE html_gz IS NOT NULL")).all()
    for row in rows:
        bind.execute(sa.text("UPDATE case_document SET html = :html WHERE id = :id"),
                     {"html": gzip.decompress(row.html_gz).decode("utf-8"), "id": row.id})
    with op.batch_alter_table("case_document") as batch_op:
        batch_op.alter_column("html", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("html_gz")
