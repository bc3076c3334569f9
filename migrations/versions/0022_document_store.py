"""document store: a decision document's bytes leave its row for files named by their SHA-256

Revision ID: 0022_document_store
Revises: 0021_case_deadline_clustered

The row keeps the PDF's SHA-256 (already there), the HTML's SHA-256 and both sizes; the byte
columns become nullable. Documents issued before keep their bytes in the row and are read from
it until `flask documents move-out` moves them (a migration does not write files).
Downgrading puts the bytes of every stored document back into its row, read from
DOCUMENT_STORE_DIR and checked against its hash (it stops, changing nothing, if one is missing).
"""
import gzip

from alembic import op
import sqlalchemy as sa

revision = "0022_document_store"
down_revision = "0021_case_deadline_clustered"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("case_document") as batch_op:
        batch_op.add_column(sa.Column("html_sha256", sa.String(64)))
        batch_op.add_column(sa.Column("pdf_size", sa.Integer()))
        batch_op.add_column(sa.Column("html_size", sa.Integer()))
        batch_op.alter_column("pdf", existing_type=sa.LargeBinary(), nullable=True)
        batch_op.create_check_constraint("ck_case_document_bytes", "pdf IS NOT NULL OR html_sha256 IS NOT NULL")


def downgrade():
    from flask import current_app
    from engine.blobs import BlobStore
    store = BlobStore(current_app.config["DOCUMENT_STORE_DIR"])
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, sha256, html_sha256 FROM case_document WHERE pdf IS NULL")).all()
    restored = []
    for row in rows:  # every file read and checked before any row changes
        restored.append({"id": row.id, "pdf": store.get(row.sha256),
                         "html_gz": gzip.compress(store.get(row.html_sha256), 9, mtime=0)})
    for values in restored:
        bind.execute(sa.text("UPDATE case_document SET pdf = :pdf, html_gz = :html_gz WHERE id = :id"), values)
    with op.batch_alter_table("case_document") as batch_op:
        batch_op.drop_constraint("ck_case_document_bytes", type_="check")
        batch_op.alter_column("pdf", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column("html_size")
        batch_op.drop_column("pdf_size")
        batch_op.drop_column("html_sha256")
