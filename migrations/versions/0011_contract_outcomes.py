"""revocation outcomes in the API contract's codes

Revision ID: 0011_contract_outcomes
Revises: 0007_users

A dismissed revocation was recorded `revocation_dismissed` and one that could not go ahead
`revocation_refused`; the contract (Outcome.code, the `outcome` filter of GET /cases) says
`dismissed` and `refused`. Stored case rows take the contract's codes.
"""
from alembic import op
import sqlalchemy as sa

revision = "0011_contract_outcomes"
down_revision = "0007_users"
branch_labels = None
depends_on = None

RENAMED = {"revocation_dismissed": "dismissed", "revocation_refused": "refused"}

_case = sa.table("permit_case", sa.column("id", sa.String), sa.column("kind", sa.String),
                 sa.column("outcome_code", sa.String), sa.column("outcome", sa.JSON))


def upgrade():
    _rename(RENAMED)


def downgrade():
    _rename({new: old for old, new in RENAMED.items()})


def _rename(codes):
    conn = op.get_bind()
    # Only revocation cases: an issue or extension refused stays `refused` on a downgrade.
    rows = conn.execute(sa.select(_case.c.id, _case.c.outcome_code, _case.c.outcome).where(
        _case.c.kind == "revocation", _case.c.outcome_code.in_(list(codes)))).all()
    for case_id, code, outcome in rows:
        outcome = dict(outcome or {}, code=codes[code])
        conn.execute(_case.update().where(_case.c.id == case_id)
                     .values(outcome_code=codes[code], outcome=outcome))
