"""officers' language and position; decision documents stored as generated

Revision ID: 0010_languages_documents
Revises: 0009_sessions
"""
from alembic import op
import sqlalchemy as sa

revision = "0010_languages_documents"
down_revision = "0009_sessions"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("language", sa.String(5), nullable=True))
        batch.add_column(sa.Column("position", sa.String(300), nullable=True))
    op.create_table(
        "case_document",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("instance_id", sa.String(36), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("signed_by", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("instance_id", "key", name="uq_case_document_key"),
    )
    op.create_index("ix_case_document_instance_id", "case_document", ["instance_id"])


def downgrade():
    op.drop_index("ix_case_document_instance_id", table_name="case_document")
    op.drop_table("case_document")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("position")
        batch.drop_column("language")
