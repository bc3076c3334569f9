"""Leasing rows to one of several runners: the jobs a worker thread runs, the timers a sweeper fires.

A lease is (lease_owner, lease_until) on the row. A runner takes up to n due rows whose lease is
free (none, or run out: its holder died) and commits at once, so the rows are its own for the
lease's length while it works on them outside any transaction. On PostgreSQL the candidate rows
are locked with SKIP LOCKED, so a second runner reads the next rows instead of waiting; on both
databases the lease is taken by a conditional update, so two runners never hold one row.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from .db import db, is_postgres


def take(model, columns, where, order_by, n: int, owner: str, now: datetime, lease: timedelta,
         still=(), values=None) -> list:
    """Lease up to n rows of `model` matching `where` (free ones only) to `owner`, and commit.

    `columns` are read of each candidate (the first must be its id); `still` are conditions the
    row must still meet when its lease is taken; `values` are written with the lease. Returns the
    candidates' rows (as read) whose lease this call took.
    """
    free = sa.or_(model.lease_until.is_(None), model.lease_until < now)
    query = sa.select(*columns).where(*where, free).order_by(*order_by).limit(n)
    if is_postgres():
        query = query.with_for_update(skip_locked=True)
    taken = []
    try:
        for row in db.session.execute(query).all():
            done = db.session.execute(
                sa.update(model).where(model.id == row[0], free, *still)
                .values(lease_owner=owner, lease_until=now + lease, **(values or {}))
                .execution_options(synchronize_session=False))
            if done.rowcount == 1:
                taken.append(row)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return taken
