"""permit domain registers and reference data

Reference data (quotas, MCI, tax rates, regional coefficients, citizenships, the simulators'
lists), the quota units, the permit register with its history and number sequences, police
requests and the notification outbox.

Revision ID: 0004_permit_domain
Revises: 0003_messages
"""
from alembic import op
import sqlalchemy as sa

revision = "0004_permit_domain"
down_revision = "0003_messages"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _updated():
    return [sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_by", sa.String(200), nullable=False)]


def upgrade():
    # --- reference data ---
    op.create_table(
        "reference_quota",
        sa.Column("region", sa.String(20), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        *_updated(),
        sa.PrimaryKeyConstraint("region", "year"),
    )
    op.create_table(
        "reference_mci",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("amount_kzt", sa.Integer(), nullable=False),
        *_updated(),
        sa.PrimaryKeyConstraint("year"),
    )
    op.create_table(
        "reference_tax_rate",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("rate_mci_per_month", sa.Numeric(8, 3), nullable=False),
        *_updated(),
        sa.PrimaryKeyConstraint("year"),
    )
    op.create_table(
        "reference_regional_coefficient",
        sa.Column("region", sa.String(20), nullable=False),
        sa.Column("coefficient", sa.Numeric(8, 4), nullable=False),
        *_updated(),
        sa.PrimaryKeyConstraint("region"),
    )
    op.create_table(
        "reference_citizenship",
        sa.Column("code", sa.String(2), nullable=False),
        *_updated(),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "reference_police_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_name", sa.String(10), nullable=False),
        sa.Column("iin", sa.String(12), nullable=True),
        sa.Column("passport_no", sa.String(30), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        *_updated(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reference_police_list_iin", "reference_police_list", ["iin"])
    op.create_index("ix_reference_police_list_passport_no", "reference_police_list", ["passport_no"])
    op.create_table(
        "reference_esutd_contract",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(50), nullable=False),
        sa.Column("employer_iin", sa.String(12), nullable=False),
        sa.Column("worker_iin", sa.String(12), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("terminated_on", sa.Date(), nullable=True),
        sa.Column("registered_on", sa.Date(), nullable=False),
        *_updated(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index("ix_esutd_contract_parties", "reference_esutd_contract",
                    ["employer_iin", "worker_iin"])

    # --- quota units ---
    op.create_table(
        "quota_unit",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("region", sa.String(20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(36), nullable=False),
        sa.Column("permit_number", sa.String(40), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("release_reason", sa.String(50), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_quota_unit_usage", "quota_unit", ["region", "year", "status"])
    op.create_index("ix_quota_unit_instance_id", "quota_unit", ["instance_id"])
    op.create_index("ix_quota_unit_permit_number", "quota_unit", ["permit_number"])

    # --- permit register ---
    op.create_table(
        "permit",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("region", sa.String(20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("holder_iin", sa.String(12), nullable=False),
        sa.Column("holder_surname", sa.String(200), nullable=False),
        sa.Column("holder_given_name", sa.String(200), nullable=False),
        sa.Column("holder_patronymic", sa.String(200), nullable=True),
        sa.Column("holder_citizenship", sa.String(2), nullable=True),
        sa.Column("employer_iin", sa.String(12), nullable=False),
        sa.Column("employer_name", sa.String(400), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by_case", sa.String(36), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_ground", sa.String(50), nullable=True),
        sa.Column("revocation_comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
        sa.UniqueConstraint("region", "year", "sequence", name="uq_permit_sequence"),
    )
    op.create_index("ix_permit_status", "permit", ["status"])
    op.create_index("ix_permit_holder_iin", "permit", ["holder_iin"])
    op.create_index("ix_permit_employer_iin", "permit", ["employer_iin"])
    op.create_index("ix_permit_issued_by_case", "permit", ["issued_by_case"])
    op.create_table(
        "permit_event",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("permit_id", BIG_ID, nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("instance_id", sa.String(36), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["permit_id"], ["permit.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_permit_event_permit_id", "permit_event", ["permit_id"])
    op.create_index("ix_permit_event_instance_id", "permit_event", ["instance_id"])
    op.create_table(
        "permit_sequence",
        sa.Column("region", sa.String(20), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region", "year"),
    )

    # --- police requests ---
    op.create_table(
        "police_request",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("instance_id", sa.String(36), nullable=False),
        sa.Column("adapter", sa.String(20), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reply_verdict", sa.String(10), nullable=True),
        sa.Column("reply_reason", sa.Text(), nullable=True),
        sa.Column("reply_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery_status", sa.String(20), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_police_request_due", "police_request", ["status", "reply_due_at"])
    op.create_index("ix_police_request_instance_id", "police_request", ["instance_id"])

    # --- notification outbox ---
    op.create_table(
        "notification",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("instance_id", sa.String(36), nullable=True),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("template", sa.String(50), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("adapter", sa.String(20), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notification_due", "notification", ["status", "next_attempt_at"])
    op.create_index("ix_notification_instance_id", "notification", ["instance_id"])


def downgrade():
    op.drop_table("notification")
    op.drop_table("police_request")
    op.drop_table("permit_sequence")
    op.drop_table("permit_event")
    op.drop_table("permit")
    op.drop_table("quota_unit")
    op.drop_table("reference_esutd_contract")
    op.drop_table("reference_police_list")
    op.drop_table("reference_citizenship")
    op.drop_table("reference_regional_coefficient")
    op.drop_table("reference_tax_rate")
    op.drop_table("reference_mci")
    op.drop_table("reference_quota")
