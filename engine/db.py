"""The database handle shared by the engine and the domain, and its column types."""
import fcntl
import time
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

import sqlalchemy as sa
from flask import has_request_context, request
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool
from sqlalchemy.orm import DeclarativeBase

# The connection of a rehearsal in progress (engine/isolation.py sets it), for this thread only.
REHEARSAL_CONNECTION: ContextVar = ContextVar("isolated_connection", default=None)


def connection():
    """The rehearsal's connection when one is running in this thread (engine.isolation), else None."""
    return REHEARSAL_CONNECTION.get()


class Base(DeclarativeBase):
    pass


class _Session(FlaskSession):
    """Flask-SQLAlchemy's session, bound to a rehearsal's connection inside one (engine.isolation)."""

    def __init__(self, db, **options):
        if connection() is not None:
            options["join_transaction_mode"] = "create_savepoint"  # a commit releases a savepoint
        super().__init__(db, **options)

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        rehearsal = connection()
        if rehearsal is not None:
            return rehearsal
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


db = SQLAlchemy(model_class=Base, session_options={"class_": _Session})


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: every stored time carries a zone")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection, connection_record):
    # Let SQLAlchemy, not pysqlite, issue BEGIN (savepoints need it); WAL for concurrent readers.
    import sqlite3
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        # The writer whose commit takes the log past this many pages copies it into the database
        # and syncs both files (a checkpoint). At SQLite's default of 1000 pages that was every
        # ~45 steps and, in fsync waits, about a tenth of a step's time; at 10000 a hot page is
        # copied once for ten times as many commits, with a tenth of the syncs (a log of ~40 MB).
        cur.execute("PRAGMA wal_autocheckpoint=10000")
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    # Writers queue for the lock at BEGIN instead of failing at their first write (a deferred
    # transaction in WAL mode cannot wait once its snapshot is stale). Readers (GET requests,
    # `reading()` blocks) take no lock at all: WAL gives them a snapshot, so a page never
    # queues behind a running step.
    if conn.dialect.name == "sqlite":
        driver = conn.connection.driver_connection
        if _reads_only():
            driver.execute("BEGIN")
            return
        info = conn.connection.info
        _writers_enter(info, driver)
        try:
            driver.execute("BEGIN IMMEDIATE")
        except BaseException:
            _writers_leave(info)
            raise


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _sqlite_end(conn):
    if conn.dialect.name == "sqlite":
        _writers_leave(conn.connection.info)


@event.listens_for(Pool, "close")
@event.listens_for(Pool, "invalidate")
def _sqlite_close(dbapi_connection, connection_record, *args):
    handle = connection_record.info.pop(_LOCK_FILE, None)
    if handle is not None:
        handle.close()


# SQLite's own wait for its write lock sleeps in growing steps (up to 100 ms between looks), so
# under load a writer can sleep long after the lock was free. Writers of one database file queue
# on an advisory lock of a file beside it instead (one open file per connection, so it works
# across threads and processes), looked at every millisecond; SQLite's lock is then free at once.
# The wait is bounded by the busy timeout, after which SQLite itself answers "database is locked".
_LOCK_FILE, _LOCK_HELD = "writers_lock_file", "writers_lock_held"
_WRITERS_TIMEOUT_SECONDS = 30.0


def _writers_enter(info, driver) -> None:
    handle = info.get(_LOCK_FILE)
    if handle is None:
        path = _main_database_path(driver)
        if path is None:
            return  # an in-memory database has no file and no other writers
        handle = info[_LOCK_FILE] = open(path + ".writers", "a+b")
    deadline = time.monotonic() + _WRITERS_TIMEOUT_SECONDS
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            info[_LOCK_HELD] = True
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.001)


def _writers_leave(info) -> None:
    if info.pop(_LOCK_HELD, False):
        fcntl.flock(info[_LOCK_FILE], fcntl.LOCK_UN)


def _main_database_path(driver) -> str | None:
    for _, name, path in driver.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return path or None
    return None


_READING: ContextVar[bool] = ContextVar("reading_only", default=False)
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@contextmanager
def reading():
    """Transactions begun inside only read (SQLite then takes no write lock at BEGIN)."""
    token = _READING.set(True)
    try:
        yield
    finally:
        _READING.reset(token)


def _reads_only() -> bool:
    if _READING.get():
        return True
    return has_request_context() and request.method in _READ_METHODS


_STEP_CONNECTION = "engine_connection"


def session_connection():
    """`db.session.connection()`, remembered for the transaction (and savepoint) it belongs to.

    A step asks for the connection several times (the instance row, the audit log, the task
    index); each ask went through the session's bind lookup and transaction state machine, at
    more cost than the statement it was for on SQLite. The remembered connection is the one the
    session answered, used only while the session's transaction and innermost savepoint are the
    same and active: a new savepoint (begun lazily, on the first ask) or a new transaction asks
    the session again.
    """
    session = db.session()
    transaction, savepoint = session.get_transaction(), session.get_nested_transaction()
    remembered = session.info.get(_STEP_CONNECTION)
    if remembered is not None and remembered[0] is transaction and remembered[1] is savepoint \
            and transaction is not None and transaction.is_active and session.is_active \
            and (savepoint is None or savepoint.is_active):
        return remembered[2]
    connection = session.connection()
    session.info[_STEP_CONNECTION] = (session.get_transaction(), session.get_nested_transaction(), connection)
    return connection


def is_postgres() -> bool:
    rehearsal = connection()
    return (rehearsal.dialect if rehearsal is not None else db.engine.dialect).name == "postgresql"


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Prepared:
    """A fixed Core statement run as the SQL text it compiles to, with its bind processors.

    SQLAlchemy compiles a statement once (its cache), but every execution still looks the
    compiled form up by the statement's cache key and builds its parameters through a general
    path; for the statements a step runs every time (the instance row, the human-task index)
    that cost more than the database's own work. Here the text and the order of its
    parameters are worked out once per dialect and set of columns, and each execution converts
    the values (the same processors: UTC timestamps, booleans...) and runs the text with
    `exec_driver_sql`, so events (statement counts in tests) still see every statement.

    On SQLite, whose statements take microseconds, `exec_driver_sql`'s execution context and
    result object still cost more than the statement: when nobody listens for cursor
    executions, one row's statement goes to the cursor through SQLAlchemy's own lean path
    (`Connection._cursor_execute`: logging, DBAPI errors wrapped and handled as usual) and
    answers with a `Done` (rowcount, lastrowid, scalar()). With a listener (statement counts in
    tests), several rows, or another database, it is `exec_driver_sql` as before.

    `execute(connection, params)` takes one dict of values by column or bind name, or a list
    of them (one statement per row, executemany); every bind without a fixed value needs one.
    """

    __slots__ = ("statement", "_forms", "_readers")

    def __init__(self, statement):
        self.statement = statement
        self._forms = {}
        self._readers = {}

    def rows(self, connection, params) -> list[tuple]:
        """Run a SELECT and answer its rows as tuples of Python values: each column read by its
        type's result processor (JSON decoded, timestamps made aware...), as the ORM would."""
        result = self.execute(connection, params)
        raw = result.rows if isinstance(result, Done) else result.fetchall()
        readers = self._readers.get(connection.dialect)
        if readers is None:
            readers = self._readers[connection.dialect] = tuple(
                column.type._cached_result_processor(connection.dialect, None)
                for column in self.statement.selected_columns)
        if not any(readers):
            return [tuple(row) for row in raw]
        return [tuple(value if read is None else read(value) for read, value in zip(readers, row))
                for row in raw]

    def execute(self, connection, params):
        many = isinstance(params, list)
        first = params[0] if many else params
        key = (connection.dialect, tuple(first))
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = self._compile(connection.dialect, tuple(first))
        text, positional, binds = form
        if many and len(params) > 1:
            rows = [self._values(row, positional, binds) for row in params]
            return connection.exec_driver_sql(text, rows)
        values = self._values(first, positional, binds)
        if _lean(connection):
            return Done.run(connection, text, values)
        return connection.exec_driver_sql(text, [values] if many else values)

    @staticmethod
    def _values(params, positional, binds):
        values = []
        for _, key, required, fixed, process in binds:
            # A bind with no fixed value must be given (KeyError otherwise, never a silent NULL).
            value = params[key] if required or key in params else fixed
            values.append(value if process is None else process(value))
        if positional:
            return tuple(values)
        return {bind[0]: value for bind, value in zip(binds, values)}

    def _compile(self, dialect, columns):
        compiled = self.statement.compile(dialect=dialect, column_keys=list(columns))
        processors = compiled._bind_processors
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        order = compiled.positiontup if compiled.positional else list(by_name)
        binds = []
        for name in order:
            bind = by_name[name]
            required = bind.value is None and bind.callable is None
            fixed = None if required else bind.effective_value
            binds.append((name, bind.key, required, fixed, processors.get(name)))
        return compiled.string, compiled.positional, tuple(binds)


def _lean(connection) -> bool:
    """Whether a statement may go to the cursor without an execution context (see Prepared)."""
    dispatch = connection.dispatch
    return (connection.dialect.name == "sqlite" and connection.in_transaction()
            and not dispatch.before_cursor_execute and not dispatch.after_cursor_execute)


class Done:
    """What a statement run by `Prepared` on the lean path answers: its row count, the last
    inserted row id, and the rows it returned (driver values, as exec_driver_sql's)."""

    __slots__ = ("rowcount", "lastrowid", "rows")

    def __init__(self, rowcount, lastrowid, rows):
        self.rowcount, self.lastrowid, self.rows = rowcount, lastrowid, rows

    @classmethod
    def run(cls, connection, text, values) -> "Done":
        cursor = connection.connection.cursor()
        try:
            connection._cursor_execute(cursor, text, values)
            rows = cursor.fetchall() if cursor.description is not None else []
            return cls(cursor.rowcount, cursor.lastrowid, rows)
        finally:
            cursor.close()

    def scalar(self):
        """The first column of the first row, or None when there is none."""
        return self.rows[0][0] if self.rows else None

    def scalar_one(self):
        """The first column of the only row (an error when there is not exactly one)."""
        if len(self.rows) != 1:
            raise (sa.exc.NoResultFound if not self.rows else sa.exc.MultipleResultsFound)(
                f"expected one row, the statement returned {len(self.rows)}")
        return self.rows[0][0]
