"""Conversations in embedded mode: Rasa's SQL tracker store on SQLite, with recent sessions kept in memory.

Measured with py-spy on the Rasa server at 50 concurrent buyers, Rasa's own
SQLTrackerStore took ~38 % of every turn, all of it blocking the event loop: each
turn opened a new SQLite connection twice, re-read and re-decoded the whole session
(JSON, then an Event object per row, then a replay), counted the session's rows
again before writing, and committed with fsync (rollback journal).

This store keeps Rasa's table and its meaning (rows in `events`, a session being
the rows from the latest `session_started` on), and changes how it gets there:
- SQLite runs in WAL mode with synchronous=NORMAL on one pooled connection: a commit
  no longer waits for the disk, and a crash of the process loses nothing committed;
- every save is written through to SQLite before it returns, so the file stays the
  truth and a restarted server (empty memory) reads the same conversations back;
- the events of a recently used session stay in memory, so a turn rebuilds its
  tracker from them (a replay, as Rasa's own `tracker.copy()` does) instead of
  reading SQL, and a save inserts the new events without counting rows. A cached
  session is used only while the newest stored row of the conversation is the one it
  knows (one indexed query), so rows written by anyone else (another store on the
  same file, e.g. the old agent finishing a turn during a model swap) make it reload;
- for conversations it saw begin, it also keeps every event, which answers the
  gateway's per-turn `GET /conversations/<id>/tracker` (all sessions) from memory.

Embedded mode only: production (PostgreSQL, several replicas) keeps Rasa's plain
SQL store, which holds no state between turns.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted, deserialise_events
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.pool import QueuePool

# A 50-event conversation takes ~115 KiB in memory (measured), so ~110 MB at most.
DEFAULT_CACHED_CONVERSATIONS = 1000


@dataclass(frozen=True)
class _StoredConversation:
    """One conversation exactly as SQLite holds it (events are shared, never mutated: Rasa treats them as values)."""

    session: tuple[Event, ...]  # the latest session, as Rasa's `retrieve` reads it
    rows: int  # rows of that session in SQLite (an undecodable row has no event)
    history: tuple[Event, ...] | None  # every event, as `retrieve_full_tracker` reads it; None: not known here
    newest_row_id: int | None  # the conversation's newest row when this was read or written (None: no row)


class SQLiteTrackerStore(SQLTrackerStore):
    """SQLTrackerStore for one Rasa process on a SQLite file (see the module docstring)."""

    def __init__(self, *args: Any, cached_conversations: int = DEFAULT_CACHED_CONVERSATIONS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name != "sqlite":
            raise ValueError(
                "SQLiteTrackerStore keeps conversations in one process's memory: use it only for "
                "embedded mode's SQLite file (production uses `type: SQL`)."
            )
        url = self.engine.url
        self.engine.dispose()
        # One reused connection instead of a new one per query (SQLAlchemy 1.4's default
        # for SQLite files); the store runs on the event loop's thread, but other
        # threads may use it too (hence no same-thread check).
        self.engine = sa.create_engine(url, poolclass=QueuePool, connect_args={"check_same_thread": False})
        sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        self._sessions: OrderedDict[str, _StoredConversation] = OrderedDict()
        self._capacity = max(0, int(cached_conversations))
        table = self.SQLEvent.__table__
        self._insert = table.insert()
        self._newest_row = sa.select(sa.func.max(table.c.id)).where(table.c.sender_id == sa.bindparam("sender_id"))

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The tracker of the latest session, from memory while SQLite has nothing newer."""
        stored = self._fresh(sender_id) or self._load(sender_id)
        return self._tracker(sender_id, stored.session)

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        """Every session's events: from memory if this store saw the whole conversation (the gateway asks each turn)."""
        stored = self._fresh(conversation_id)
        if stored is None or stored.history is None:
            return await super().retrieve_full_tracker(conversation_id)
        return self._tracker(conversation_id, stored.history)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Write the tracker's new events to SQLite (one transaction) and remember the session."""
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        events = list(tracker.events)
        stored = self._sessions.pop(sender_id, None)
        newest = self._newest_row_id(sender_id)
        if stored is not None and stored.newest_row_id != newest:
            stored = None  # someone else wrote: count the rows as Rasa does
        rows = stored.rows if stored is not None else self._count_session_rows(sender_id)
        new_events = events[rows:]  # Rasa's rule: whatever lies beyond the stored rows is new
        if new_events:
            with self.engine.begin() as connection:
                connection.execute(self._insert, [_row(sender_id, event) for event in new_events])
                newest = connection.execute(self._newest_row, {"sender_id": sender_id}).scalar()
        session = _session_after_save(stored, new_events) if stored is not None else None
        if stored is not None and session is not None:
            history = stored.history + tuple(new_events) if stored.history is not None else None
            self._remember(sender_id, _StoredConversation(session, len(session), history, newest))

    def _fresh(self, sender_id: str) -> _StoredConversation | None:
        """The remembered conversation, unless SQLite has rows it does not know."""
        stored = self._sessions.get(sender_id)
        if stored is None or stored.newest_row_id != self._newest_row_id(sender_id):
            return None
        self._sessions.move_to_end(sender_id)
        return stored

    def _load(self, sender_id: str) -> _StoredConversation:
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
            serialised = [(row.id, row.data) for row in rows]
        events = deserialise_events([json.loads(data) for _, data in serialised])
        # A conversation with no rows is remembered too: its first save then needs no
        # count, and its whole history is then known.
        newest = max((row_id for row_id, _ in serialised), default=None)
        stored = _StoredConversation(tuple(events), len(serialised), () if not serialised else None, newest)
        self._remember(sender_id, stored)
        return stored

    def _newest_row_id(self, sender_id: str) -> int | None:
        with self.engine.connect() as connection:
            return connection.execute(self._newest_row, {"sender_id": sender_id}).scalar()

    def _count_session_rows(self, sender_id: str) -> int:
        with self.session_scope() as session:
            return self._event_query(session, sender_id, fetch_events_from_all_sessions=False).count()

    def _remember(self, sender_id: str, stored: _StoredConversation) -> None:
        self._sessions[sender_id] = stored
        self._sessions.move_to_end(sender_id)
        while len(self._sessions) > self._capacity:
            self._sessions.popitem(last=False)

    def _tracker(self, sender_id: str, events: Sequence[Event]) -> DialogueStateTracker | None:
        # A fresh tracker each time: callers change trackers freely before saving (or
        # never save them, when a turn fails), and none of that may reach the cache.
        return DialogueStateTracker.from_events(sender_id, list(events), self.domain.slots) if events else None


def _session_after_save(stored: _StoredConversation, new_events: Sequence[Event]) -> tuple[Event, ...] | None:
    """SQLite's latest session once `new_events` are stored after `stored` (None: unknowable without reading it)."""
    if stored.rows != len(stored.session):
        return None  # a row Rasa could not decode: only SQLite knows where the session starts
    session = stored.session + tuple(new_events)
    # Rasa's rule, in SQL: the rows stamped at or after the latest session start (all
    # rows if none). Rows not in `stored` are stamped before its start, so they stay out.
    starts = [event.timestamp for event in session if isinstance(event, SessionStarted)]
    if not starts:
        return session
    start = max(starts)
    return tuple(event for event in session if event.timestamp >= start)


def _row(sender_id: str, event: Event) -> dict[str, Any]:
    """The `events` row Rasa's SQLTrackerStore writes for `event`."""
    data = event.as_dict()
    intent = data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY)
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": intent,
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never wait for the writer; NORMAL: commits skip fsync (only a power
    # cut, not a crash of the server, can lose the latest turns).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
