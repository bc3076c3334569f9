"""server-side session ends; no account-wide sign-in lock

Revision ID: 0009_sessions
Revises: 0008_jobs

`session_generation` is part of every session's id: raising it (sign-out, a new password,
disabling) ends the account's sessions. The account-wide lock (failed_attempts, locked_until)
let anyone lock an officer out; sign-in is throttled per address instead (web/inbox/throttle.py).
"""
from alembic import op
import sqlalchemy as sa

revision = "0009_sessions"
down_revision = "0008_jobs"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))
        batch.drop_column("failed_attempts")
        batch.drop_column("locked_until")


def downgrade():
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.drop_column("session_generation")
