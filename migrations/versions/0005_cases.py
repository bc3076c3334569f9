"""case index for client systems

Revision ID: 0005_cases
Revises: 0004_permit_domain
"""
from alembic import op
import sqlalchemy as sa

revision = "0005_cases"
down_revision = "0004_permit_domain"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "permit_case",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("application_no", sa.String(64), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("channel", sa.String(10), nullable=True),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("applicant_iin", sa.String(12), nullable=True),
        sa.Column("applicant_name", sa.String(300), nullable=True),
        sa.Column("permit_no", sa.String(40), nullable=True),
        sa.Column("outcome_code", sa.String(40), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("application_no"),
    )
    op.create_index("ix_case_region_created", "permit_case", ["region", "created_at"])
    op.create_index("ix_permit_case_region", "permit_case", ["region"])
    op.create_index("ix_permit_case_applicant_iin", "permit_case", ["applicant_iin"])
    op.create_index("ix_permit_case_permit_no", "permit_case", ["permit_no"])
    op.create_index("ix_permit_case_outcome_code", "permit_case", ["outcome_code"])
    op.create_index("ix_permit_case_created_at", "permit_case", ["created_at"])


def downgrade():
    op.drop_table("permit_case")
