"""why a version was deployed: the analyst's comment, and an administrator's override of failing scenarios

Revision ID: 0013_deploy_comment
Revises: 0012_scale
"""
from alembic import op
import sqlalchemy as sa

revision = "0013_deploy_comment"
down_revision = "0012_scale"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("process_definition") as batch:
        batch.add_column(sa.Column("comment", sa.Text(), nullable=True))
        batch.add_column(sa.Column("override_reason", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("process_definition") as batch:
        batch.drop_column("override_reason")
        batch.drop_column("comment")
