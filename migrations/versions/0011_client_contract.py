"""what client systems rely on: the contract's outcome codes, idempotent task completion

Revision ID: 0011_client_contract
Revises: 0010_languages_documents

A dismissed revocation was recorded `revocation_dismissed` and one that could not go ahead
`revocation_refused`; the contract (Outcome.code, the `outcome` filter of GET /cases) says
`dismissed` and `refused`. Stored case rows take the contract's codes.
`api_idempotency_key` remembers the Idempotency-Key of a task completion with the change.
"""
from alembic import op
import sqlalchemy as sa

revision = "0011_client_contract"
down_revision = "0010_languages_documents"
branch_labels = None
depends_on = None

RENAMED = {"revocation_dismissed": "dismissed", "revocation_refused": "refused"}

_case = sa.table("permit_case", sa.column("id", sa.String), sa.column("kind", sa.String),
                 sa.column("outcome_code", sa.String), sa.column("outcome", sa.JSON))


def upgrade():
    _rename(RENAMED)
    op.create_table(
        "api_idempotency_key",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("client_id", sa.Integer(), sa.ForeignKey("api_client.id"), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("operation", sa.String(100), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("client_id", "key", name="uq_api_idempotency_key"),
    )
    op.create_index("ix_api_idempotency_key_created_at", "api_idempotency_key", ["created_at"])


def downgrade():
    op.drop_index("ix_api_idempotency_key_created_at", table_name="api_idempotency_key")
    op.drop_table("api_idempotency_key")
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
