"""Compression dictionaries for finished instances' stored state, one per process.

A finished instance's state (engine/finished.py) is a few kilobytes of JSON whose keys, codes
and layout repeat in every instance of its process; deflate on its own finds no repeats across
rows. A preset dictionary holds them: the state compresses to about half.

A dictionary is the *skeleton* of a finished instance of the process and of one waiting: its
keys, numbers, booleans, lowercase codes (`issued`, `working_days`) and the names of the
diagram's elements (`valid.BoundaryEventSplit`), every other text masked to its shape (digits
0, letters x: `0000-00-00T00:00:00+00:00` keeps a date's layout, not the date), so it holds no
one's name, number or date. Retention makes one per process that has none (`ensure`), in its own
transaction, before any state refers to it; a row is never changed or deleted, so a state
names its dictionary by id for good. A state is written as b"SD" + the id (4 bytes) + a zlib
stream, whose header carries the dictionary's Adler-32: the wrong dictionary fails to read.

A waiting instance's state (a task tree, engine/serializer.py) is written with fast gzip on
every step. One known to wait for months, a permit's validity watch, is packed once with its
process's dictionary when it starts waiting (`pack_waiting`): about 40 % smaller, read the same
way, and written with gzip again by its next step.
"""
from __future__ import annotations

import gzip
import json
import re
import struct
import time
import zlib

import sqlalchemy as sa

from . import caches, clock, isolation
from .db import UTCDateTime, db

MAGIC = b"SD"
_CODE = re.compile(r"[a-z]+(?:_[a-z]+)*")
# Any script's letters, but a letter between two digits (a date's T) stays.
_DIGIT, _LETTER = re.compile(r"\d"), re.compile(r"(?<!\d)[^\W\d_]|[^\W\d_](?!\d)")


class _Known:
    """What this application has read of the dictionaries (ids are its database's)."""

    def __init__(self):
        self.by_id: dict[int, bytes] = {}
        self.by_process: dict[str, int] = {}
        self.none_until: dict[str, float] = {}  # process -> until when "it has no dictionary" is believed

    def clear(self) -> None:
        self.by_id.clear()
        self.by_process.clear()
        self.none_until.clear()


def _known() -> _Known:
    return caches.get("state_dictionary.known", _Known)

NONE_SECONDS = 300.0  # a dictionary retention makes is used from at most this long after


class StateDictionary(db.Model):
    __tablename__ = "state_dictionary"
    __table_args__ = (sa.Index("ix_state_dictionary_process", "process_id", "id"),)

    id = sa.Column(sa.Integer, primary_key=True)
    process_id = sa.Column(sa.String(200), nullable=False)
    data = sa.Column(sa.LargeBinary, nullable=False)
    created_at = sa.Column(UTCDateTime, nullable=False)


def skeleton(value, names: frozenset = frozenset()):
    """Keys, numbers, booleans and lowercase codes of `value`, and the texts in `names` (the
    diagram's element names); any other text masked to its shape: every digit 0, every letter
    x (`2026-06-10T05:00:00+00:00` -> `0000-00-00T00:00:00+00:00`, which still matches the
    layout of a date, not the date)."""
    if isinstance(value, dict):
        return {key: skeleton(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [skeleton(item, names) for item in value]
    if isinstance(value, str):
        if (len(value) <= 40 and _CODE.fullmatch(value)) or value in names:
            return value
        return _LETTER.sub("x", _DIGIT.sub("0", value))
    return value


def for_process(process_id: str) -> tuple[int, bytes] | None:
    """The process's dictionary (the oldest, if two were made), or None."""
    cache = _known()
    known = cache.by_process.get(process_id)
    if known is not None:
        return known, cache.by_id[known]
    if cache.none_until.get(process_id, 0.0) > time.monotonic():
        return None
    row = db.session.execute(sa.select(StateDictionary.id, StateDictionary.data)
                             .where(StateDictionary.process_id == process_id)
                             .order_by(StateDictionary.id).limit(1)).first()
    if row is None:
        if not isolation.active():
            cache.none_until[process_id] = time.monotonic() + NONE_SECONDS
        return None
    if not isolation.active():  # a rehearsal's rows vanish with it
        cache.by_id[row.id], cache.by_process[process_id] = row.data, row.id
    return row.id, row.data


def _by_id(dictionary_id: int) -> bytes:
    cache = _known()
    data = cache.by_id.get(dictionary_id)
    if data is None:
        data = db.session.execute(sa.select(StateDictionary.data)
                                  .where(StateDictionary.id == dictionary_id)).scalar_one()
        if not isolation.active():
            cache.by_id[dictionary_id] = data
    return data


def compress(raw: bytes, process_id: str) -> bytes:
    """`raw` with the process's dictionary when it has one, else gzip (level 9)."""
    found = for_process(process_id)
    if found is None:
        return gzip.compress(raw, 9, mtime=0)
    dictionary_id, data = found
    compressor = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, data)
    return MAGIC + struct.pack(">I", dictionary_id) + compressor.compress(raw) + compressor.flush()


def decompress(blob: bytes) -> bytes:
    if blob[:2] != MAGIC:
        return gzip.decompress(blob)
    (dictionary_id,) = struct.unpack(">I", blob[2:6])
    decompressor = zlib.decompressobj(15, _by_id(dictionary_id))
    return decompressor.decompress(blob[6:]) + decompressor.flush()


def ensure() -> int:
    """Make a dictionary for each process with a finished (compacted) or a waiting instance and
    none yet, from the skeletons of its newest such instances; commits. Returns how many were
    made. A process's states all compress with its first dictionary, so it holds the layout of
    both: a waiting instance's task rows and a finished one's data and path."""
    # By name: instances imports this module's users. The deployed processes are few: each is
    # looked up by its own index entries, never by reading the instances of every process.
    table, deployed = db.metadata.tables["process_instance"], db.metadata.tables["process_definition"]
    have = sa.select(StateDictionary.process_id)
    finished, waiting = table.c.compacted_at.is_not(None), table.c.status == "in_progress"
    missing = db.session.execute(sa.select(deployed.c.process_id).distinct()
                                 .where(deployed.c.process_id.not_in(have))).scalars().all()
    made = 0
    for process_id in missing:
        parts = []
        for which, newest in ((waiting, None), (finished, table.c.compacted_at)):
            query = sa.select(table.c.state, table.c.definition_id).where(table.c.process_id == process_id, which)
            row = db.session.execute((query.order_by(newest.desc()) if newest is not None else query)
                                     .limit(1)).first()
            if row is not None and row.state:
                stored = json.loads(decompress(row.state))
                parts.append(json.dumps(skeleton(stored, _element_names(row.definition_id)),
                                        separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        if not parts:
            continue
        data = b"\n".join(parts)  # the finished skeleton last: nearest to what it is used most for
        db.session.add(StateDictionary(process_id=process_id, data=data[-32768:], created_at=clock.now()))
        made += 1
    db.session.commit()
    _known().none_until.clear()  # this process uses them at once
    return made


def _element_names(definition_id) -> frozenset:
    """The task spec names of a definition (its diagram's element ids and SpiffWorkflow's own)."""
    from . import definitions
    try:
        spec, subprocess_specs = definitions.spec_by_id(definition_id)
    except Exception:  # a definition that no longer parses: its skeleton keeps codes only
        return frozenset()
    from .workflow import task_specs
    return frozenset(task.name for task in task_specs(spec, subprocess_specs))


def pack(state: bytes, process_id: str) -> bytes | None:
    """A waiting instance's gzip'd state compressed with its process's dictionary, when the
    process has one and it is smaller; else None (keep the state as it is)."""
    if not state or state[:2] == MAGIC:
        return None
    if for_process(process_id) is None:
        return None
    packed = compress(gzip.decompress(state), process_id)
    return packed if packed[:2] == MAGIC and len(packed) < len(state) else None


def pack_waiting(instance_id: str) -> bool:
    """Pack the state of an instance that waits (for months, say) with its process's dictionary,
    in the current transaction; the row's version is unchanged (it takes no step), and a step
    that changed the row meanwhile wins (nothing is written). True when packed."""
    table = db.metadata.tables["process_instance"]
    row = db.session.execute(sa.select(table.c.state, table.c.process_id, table.c.version, table.c.status)
                             .where(table.c.id == instance_id)).first()
    if row is None or row.status != "in_progress":
        return False
    packed = pack(row.state, row.process_id)
    if packed is None:
        return False
    return db.session.execute(sa.update(table).where(table.c.id == instance_id, table.c.version == row.version)
                              .values(state=packed)).rowcount == 1
