"""substitution: an absent officer's tasks shown to a substitute for a period

Revision ID: 0015_substitution
Revises: 0013_deploy_comment
"""
from alembic import op
import sqlalchemy as sa

revision = "0015_substitution"
down_revision = "0013_deploy_comment"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "substitution",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("absent", sa.String(100), nullable=False),
        sa.Column("substitute", sa.String(100), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_by", sa.String(200)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_substitution_substitute", "substitution", ["substitute", "ends_on"])
    op.create_index("ix_substitution_absent", "substitution", ["absent", "ends_on"])


def downgrade():
    op.drop_index("ix_substitution_absent", table_name="substitution")
    op.drop_index("ix_substitution_substitute", table_name="substitution")
    op.drop_table("substitution")
