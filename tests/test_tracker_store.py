"""Embedded mode's tracker store (bot/tracker_store.py) on real SQLite files.

The reference is Rasa's own SQLTrackerStore: fed the same turns, both must store the
same rows and hand back the same trackers; memory may only save re-reading them.
"""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.config import PROJECT_ROOT
from bot.tracker_store import SQLiteTrackerStore

SENDER = "buyer-test-1"


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(PROJECT_ROOT / "domain.yml"))


def store(path: Path, domain: Domain, plain: bool = False) -> SQLTrackerStore:
    kind = SQLTrackerStore if plain else SQLiteTrackerStore
    return kind(domain=domain, dialect="sqlite", db=str(path))


def user(text: str, intent: str) -> UserUttered:
    return UserUttered(text, {"name": intent, "confidence": 0.98}, [], {"text": text})


def new_session() -> list[Event]:
    return [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]


def answer(text: str, intent: str, response: str) -> list[Event]:
    return [user(text, intent), ActionExecuted(response), BotUttered(text=response), ActionExecuted("action_listen")]


async def take_turn(tracker_store: SQLTrackerStore, events: list[Event]) -> DialogueStateTracker:
    """What Rasa's processor does in one turn: fetch (or create), append, save."""
    tracker = await tracker_store.get_or_create_tracker(SENDER, append_action_listen=False)
    for event in copy.deepcopy(events):  # each store gets its own, identically stamped, events
        tracker.update(event)
    await tracker_store.save(tracker)
    return tracker


def rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT sender_id, type_name, timestamp, intent_name, action_name, data FROM events ORDER BY id"
        ).fetchall()


def dump(tracker: DialogueStateTracker | None) -> tuple[list[dict], dict] | None:
    return None if tracker is None else ([e.as_dict() for e in tracker.events], tracker.current_slot_values())


# A conversation over the cases where "the latest session" changes shape: the first
# turn of a conversation, an expired session starting anew, and an event stamped in
# the past (possible through the HTTP events API), which SQL keeps out of the session.
TURNS: list[list[Event]] = [
    new_session() + answer("你好", "greet", "utter_greet"),
    answer("是正品吗", "ask_authenticity", "utter_authenticity") + [SlotSet("buyer_id", "b0001")],
    answer("能便宜点吗", "bargain", "utter_bargain"),
    new_session() + answer("在吗", "greet", "utter_greet"),
    [SlotSet("buyer_id", "b0002", timestamp=1.0)],
    answer("什么时候发货", "ask_shipping_time", "utter_shipping"),
]


async def test_stores_the_same_rows_and_trackers_as_rasas_sql_store(tmp_path: Path, domain: Domain) -> None:
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    cached, plain = store(ours, domain), store(theirs, domain, plain=True)
    for turn in TURNS:
        await take_turn(cached, turn)
        await take_turn(plain, turn)
        assert rows(ours) == rows(theirs)
        assert dump(await cached.retrieve(SENDER)) == dump(await plain.retrieve(SENDER))
        assert dump(await cached.retrieve_full_tracker(SENDER)) == dump(await plain.retrieve_full_tracker(SENDER))


async def test_a_restarted_server_reads_the_conversation_back(tmp_path: Path, domain: Domain) -> None:
    path = tmp_path / "conversations.db"
    before_restart = store(path, domain)
    for turn in TURNS[:3]:
        await take_turn(before_restart, turn)
    remembered = dump(await before_restart.retrieve(SENDER))
    before_restart.engine.dispose()

    after_restart = store(path, domain)  # empty memory, same file
    assert dump(await after_restart.retrieve(SENDER)) == remembered
    assert dump(await after_restart.retrieve_full_tracker(SENDER)) == dump(
        await before_restart.retrieve_full_tracker(SENDER)
    )
    tracker = await take_turn(after_restart, TURNS[5])
    assert tracker.get_slot("buyer_id") == "b0001"
    assert dump(await store(path, domain, plain=True).retrieve(SENDER)) == dump(tracker)


async def test_changes_to_a_tracker_that_is_not_saved_do_not_leak(tmp_path: Path, domain: Domain) -> None:
    tracker_store = store(tmp_path / "conversations.db", domain)
    await take_turn(tracker_store, TURNS[0])
    stored = dump(await tracker_store.retrieve(SENDER))

    abandoned = await tracker_store.retrieve(SENDER)  # e.g. a turn that fails before saving
    abandoned.update(SlotSet("buyer_id", "someone-else"))
    abandoned.update(user("转人工", "request_human"))
    abandoned.slots["buyer_id"].value = "tampered"

    assert dump(await tracker_store.retrieve(SENDER)) == stored
    assert (await tracker_store.retrieve(SENDER)).get_slot("buyer_id") is None


async def test_rows_written_by_another_store_are_read_not_overwritten(tmp_path: Path, domain: Domain) -> None:
    # During a model swap the old agent's store may finish a turn the new one has cached.
    path = tmp_path / "conversations.db"
    first, second = store(path, domain), store(path, domain)
    await take_turn(first, TURNS[0])
    await take_turn(second, TURNS[1])  # `first` still remembers the session without this turn
    tracker = await take_turn(first, TURNS[2])
    assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == ["你好", "是正品吗", "能便宜点吗"]
    assert len(rows(path)) == sum(map(len, TURNS[:3]))


async def test_a_tracker_rebuilt_from_events_is_saved_as_rasa_saves_it(tmp_path: Path, domain: Domain) -> None:
    # PUT /conversations/<id>/tracker/events saves a tracker built from the request.
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    cached, plain = store(ours, domain), store(theirs, domain, plain=True)
    replacement = [e.as_dict() for e in new_session() + answer("退货", "request_refund", "utter_refund")]
    for tracker_store in (cached, plain):
        await take_turn(tracker_store, TURNS[0])
        await tracker_store.save(DialogueStateTracker.from_dict(SENDER, replacement, domain.slots))
        await take_turn(tracker_store, TURNS[2])
    assert rows(ours) == rows(theirs)
    assert dump(await cached.retrieve(SENDER)) == dump(await plain.retrieve(SENDER))


async def test_an_unknown_conversation_has_no_tracker(tmp_path: Path, domain: Domain) -> None:
    tracker_store = store(tmp_path / "conversations.db", domain)
    assert await tracker_store.retrieve("nobody") is None
    assert not await tracker_store.exists("nobody")


async def test_only_the_most_recent_conversations_stay_in_memory(tmp_path: Path, domain: Domain) -> None:
    path = tmp_path / "conversations.db"
    tracker_store = SQLiteTrackerStore(domain=domain, dialect="sqlite", db=str(path), cached_conversations=2)
    for sender in ("a", "b", "c"):
        tracker = await tracker_store.get_or_create_tracker(sender, append_action_listen=False)
        tracker.update_with_events(new_session() + answer("你好", "greet", "utter_greet"), domain)
        await tracker_store.save(tracker)
    assert len(tracker_store._sessions) == 2
    for sender in ("a", "b", "c"):  # forgotten or not, every conversation is still there
        assert len((await tracker_store.retrieve(sender)).events) == 6


def test_the_file_is_in_wal_mode(tmp_path: Path, domain: Domain) -> None:
    path = tmp_path / "conversations.db"
    tracker_store = store(path, domain)
    with tracker_store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
