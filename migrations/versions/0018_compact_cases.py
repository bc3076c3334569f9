"""compact finished cases: a notification's text kept once (template, parameters, language)

Revision ID: 0018_compact_cases
Revises: 0015_substitution
"""
from alembic import op
import sqlalchemy as sa

revision = "0018_compact_cases"
down_revision = "0015_substitution"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notification") as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(5)))
        batch_op.alter_column("subject", existing_type=sa.String(500), nullable=True)
        batch_op.alter_column("body", existing_type=sa.Text(), nullable=True)


def downgrade():
    # Rows queued since keep no text: write a placeholder so the old NOT NULL holds.
    op.execute("UPDATE notification SET subject = template WHERE subject IS NULL")
    op.execute("UPDATE notification SET body = '' WHERE body IS NULL")
    with op.batch_alter_table("notification") as batch_op:
        batch_op.alter_column("body", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("subject", existing_type=sa.String(500), nullable=False)
        batch_op.drop_column("language")
