"""officers and their sign-in

Revision ID: 0007_users
Revises: 0006_api_clients
"""
from alembic import op
import sqlalchemy as sa

revision = "0007_users"
down_revision = "0006_api_clients"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("full_name", sa.String(300), nullable=True),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("region", sa.String(20), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("username"),
    )


def downgrade():
    op.drop_table("app_user")
