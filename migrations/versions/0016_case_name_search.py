"""case name search: each word of an applicant's name, folded, with the case's region, indexed for prefix search

Revision ID: 0016_case_name_search
Revises: 0019_case_deadlines
"""
from alembic import op
import sqlalchemy as sa

revision = "0016_case_name_search"
down_revision = "0019_case_deadlines"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade():
    op.create_table(
        "case_name_token",
        sa.Column("token", sa.String(40), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("case_id", sa.String(36), sa.ForeignKey("permit_case.id"), nullable=False),
        sa.PrimaryKeyConstraint("token", "region", "case_id"),
    )
    # The cases filed before this revision: their names folded by the same rule as new ones.
    from handlers import names
    conn = op.get_bind()
    cases = sa.table("permit_case", sa.column("id"), sa.column("region"), sa.column("applicant_name"))
    tokens = sa.table("case_name_token", sa.column("token"), sa.column("region"), sa.column("case_id"))
    last = ""
    while True:  # in pages of the primary key: no cursor held open across the inserts
        rows = conn.execute(sa.select(cases.c.id, cases.c.region, cases.c.applicant_name).where(cases.c.id > last)
                            .order_by(cases.c.id).limit(BATCH)).all()
        if not rows:
            break
        last = rows[-1][0]
        pending = [{"token": token, "region": region, "case_id": case_id} for case_id, region, name in rows
                   if name for token in names.tokens(name)]
        if pending:
            op.bulk_insert(tokens, pending)


def downgrade():
    op.drop_table("case_name_token")
