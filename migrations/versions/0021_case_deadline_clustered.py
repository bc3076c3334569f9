"""case deadlines clustered by their key on SQLite: a row is stored once, not also in an index

Revision ID: 0021_case_deadline_clustered
Revises: 0017_inbox_sorts_saved_filters

On SQLite a table with a text primary key keeps every row twice: in the table (by rowid) and in
the key's automatic index. `case_deadline` is looked up only by its key and by the report's
covering index, so it becomes a WITHOUT ROWID table: the rows live in the key's B-tree (about
120 bytes less per finished case on disk). PostgreSQL has no rowid: nothing changes there.
"""
from alembic import op

revision = "0021_case_deadline_clustered"
down_revision = "0017_inbox_sorts_saved_filters"
branch_labels = None
depends_on = None

COLUMNS = "instance_id, name, region, filed_month, due_at, closed_at, met"
INDEX = ("CREATE INDEX ix_case_deadline_region_month ON case_deadline "
         "(region, filed_month, name, met, closed_at, due_at)")


def _rebuild(without_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"""CREATE TABLE case_deadline_rebuilt (
        instance_id VARCHAR(36) NOT NULL,
        name VARCHAR(64) NOT NULL,
        region VARCHAR(10) NOT NULL,
        filed_month VARCHAR(7) NOT NULL,
        due_at DATETIME,
        closed_at DATETIME,
        met BOOLEAN,
        PRIMARY KEY (instance_id, name)
    ){" WITHOUT ROWID" if without_rowid else ""}""")
    op.execute(f"INSERT INTO case_deadline_rebuilt ({COLUMNS}) SELECT {COLUMNS} FROM case_deadline")
    op.execute("DROP TABLE case_deadline")
    op.execute("ALTER TABLE case_deadline_rebuilt RENAME TO case_deadline")
    op.execute(INDEX)


def upgrade():
    _rebuild(without_rowid=True)


def downgrade():
    _rebuild(without_rowid=False)
