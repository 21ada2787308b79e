"""The trainers' inbox: messages the bot understood badly, gathered from real conversations, and imported chat lines.

A bot answer lands here when its intent was the fallback, its confidence was low, or
the top two intents nearly tied; so does the buyer's last message before a handoff,
and any answer an agent marked as misunderstood. Lines imported from a shop's own chat
history (`./shop inbox import`, bot.trainer.inbox_import) wait here too, with reason
"imported". Repeats of one message (by the same key the training data uses) are merged
with a count. Decisions are remembered so an item does not come back; each trainer's
label is kept as well, so a second trainer can label a decided line blind and the two
can be compared (bot.trainer.agreement).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.models import ConversationMessage, HandoffTicket, ImportedLine, InboxDecision, InboxLabel
from bot.trainer.examples import example_key

LOW_CONFIDENCE = 0.6
NEAR_TIE = 0.1
CONTEXT_LINES = 3


@dataclass
class InboxItem:
    id: str  # short, stable handle for the CLI and the console
    key: str
    text: str
    count: int
    reasons: set[str] = field(default_factory=set)
    top3: list[dict[str, Any]] = field(default_factory=list)
    context: list[tuple[str, str]] = field(default_factory=list)  # (sender, text) around one occurrence
    source: str | None = None  # imported lines: the chat export they came from

    @property
    def top_intent(self) -> str | None:
        return self.top3[0]["intent"] if self.top3 else None

    @property
    def top_confidence(self) -> float | None:
        return self.top3[0]["confidence"] if self.top3 else None

    @property
    def margin(self) -> float | None:
        """How far the bot's best guess led the second: the smaller, the less sure it was."""
        if not self.top3:
            return None
        return self.top3[0]["confidence"] - (self.top3[1]["confidence"] if len(self.top3) > 1 else 0.0)


@dataclass
class Filters:
    """What the bulk-labelling view asks for; None means any."""

    source: str | None = None
    intent: str | None = None  # the bot's best guess
    min_confidence: float | None = None
    max_confidence: float | None = None
    order: str = "frequency"  # or "uncertainty": the smallest margin between the top two first

    def admits(self, item: InboxItem) -> bool:
        confidence = item.top_confidence
        if self.min_confidence is not None and (confidence is None or confidence < self.min_confidence):
            return False
        if self.max_confidence is not None and (confidence is None or confidence > self.max_confidence):
            return False
        return (self.source is None or item.source == self.source) and (
            self.intent is None or item.top_intent == self.intent
        )


def item_id(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:8]


def _why(line: ConversationMessage) -> str | None:
    """Why a bot answer counts as a misunderstanding, or None."""
    extra = line.extra or {}
    ranking = extra.get("understood") or []
    if extra.get("misunderstood"):
        return "marked by an agent"
    if line.intent == "nlu_fallback":
        return "fallback"
    if line.confidence is not None and line.confidence < LOW_CONFIDENCE:
        return "low confidence"
    if len(ranking) >= 2 and ranking[0]["confidence"] - ranking[1]["confidence"] < NEAR_TIE:
        return "near tie"
    return None


def collect(session: Session, limit: int | None = 100, filters: Filters | None = None) -> list[InboxItem]:
    """Open inbox items, most frequent first (or as `filters` ask)."""
    return arrange(_open_items(session), filters)[:limit]


def arrange(items: list[InboxItem], filters: Filters | None = None) -> list[InboxItem]:
    """The items `filters` admit, in the order they ask for."""
    filters = filters or Filters()
    items = [item for item in items if filters.admits(item)]
    if filters.order == "uncertainty":
        # Lines without guesses (the last words before a handoff) have no margin: they come last.
        items.sort(key=lambda item: (item.margin is None, item.margin or 0.0, -item.count, item.text))
    else:
        items.sort(key=lambda item: (-item.count, item.text))
    return items


def _open_items(session: Session) -> list[InboxItem]:
    decided = set(session.scalars(select(InboxDecision.key)))
    handoff_at = dict(session.execute(select(HandoffTicket.conversation_id, HandoffTicket.created_at)).all())
    items: dict[str, InboxItem] = {}
    # One query for every transcript, conversation by conversation (not one query per conversation).
    rows = session.scalars(
        select(ConversationMessage).order_by(ConversationMessage.conversation_id, ConversationMessage.id)
    )
    for conversation_id, lines in groupby(rows, key=lambda row: row.conversation_id):
        _gather(list(lines), handoff_at.get(conversation_id), decided, items)
    for line in session.scalars(select(ImportedLine)):
        if line.key in decided:
            continue
        item = items.setdefault(line.key, InboxItem(item_id(line.key), line.key, line.text, 0))
        item.count += line.occurrences
        item.reasons.add("imported")
        item.top3 = item.top3 or list(line.top3 or [])
        item.source = line.source
    return list(items.values())


def find(session: Session, item_id: str) -> InboxItem | None:
    """The open inbox item with this id, however far down the list it is."""
    return next((item for item in collect(session, limit=None) if item.id == item_id), None)


def _gather(
    lines: list[ConversationMessage],
    handoff_at: datetime | None,
    decided: set[str],
    items: dict[str, InboxItem],
) -> None:
    last_buyer: int | None = None
    flagged: dict[int, tuple[str, list[dict[str, Any]]]] = {}  # buyer line index -> (reason, top3)
    asked_for_human: set[int] = set()  # buyer lines the bot understood as "a person, please"
    for i, line in enumerate(lines):
        if line.sender == "buyer" and not line.text.startswith("/"):
            last_buyer = i
        elif line.sender == "bot" and last_buyer is not None and last_buyer not in flagged:
            reason = _why(line)
            if reason:
                flagged[last_buyer] = (reason, (line.extra or {}).get("understood") or [])
            elif line.intent == "request_human":
                asked_for_human.add(last_buyer)
    if handoff_at is not None:
        # The buyer's last words before the handoff, not the (well understood) request for a person itself.
        before = [
            i
            for i, line in enumerate(lines)
            if line.sender == "buyer" and line.created_at <= handoff_at and i not in asked_for_human
        ]
        if before and before[-1] not in flagged:
            flagged[before[-1]] = ("before a handoff", [])
    for index, (reason, top3) in flagged.items():
        text = lines[index].text
        key = example_key(text)
        if key in decided:
            continue
        item = items.setdefault(key, InboxItem(item_id(key), key, text, 0))
        item.count += 1
        item.reasons.add(reason)
        item.top3 = item.top3 or top3
        if not item.context:
            window = lines[max(0, index - CONTEXT_LINES) : index + CONTEXT_LINES + 1]
            item.context = [(line.sender, line.text) for line in window]


def mark_misunderstood(session: Session, line_id: int) -> bool:
    """An agent says the bot got this answer wrong; False if it is not a bot line."""
    line = session.get(ConversationMessage, line_id)
    if line is None or line.sender != "bot":
        return False
    line.extra = {**(line.extra or {}), "misunderstood": True}
    return True


DECISIONS = ("labelled", "test", "dismissed")


def decide(
    session: Session,
    key: str,
    decision: str,
    intent: str | None,
    now: datetime,
    trainer: str | None = None,
    text: str | None = None,
) -> None:
    """Remember a decision (the caller has already written any new example), and whose label it was."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown inbox decision {decision!r}")
    session.merge(InboxDecision(key=key, decision=decision, intent=intent, decided_at=now))
    if trainer:
        _label(session, key, text or "", trainer, decision, intent, True, now)


def second_opinion(
    session: Session, key: str, text: str, trainer: str, decision: str, intent: str | None, now: datetime
) -> None:
    """A trainer's label of a line another trainer already decided: kept for agreement, nothing written."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown inbox decision {decision!r}")
    _label(session, key, text, trainer, decision, intent, False, now)


def _label(
    session: Session,
    key: str,
    text: str,
    trainer: str,
    decision: str,
    intent: str | None,
    decided: bool,
    now: datetime,
) -> None:
    label = session.scalar(select(InboxLabel).where(InboxLabel.key == key, InboxLabel.trainer == trainer))
    if label is None:
        label = InboxLabel(key=key, trainer=trainer)
        session.add(label)
    label.text, label.decision, label.intent, label.decided, label.labelled_at = text, decision, intent, decided, now


def labels(session: Session, key: str | None = None) -> list[InboxLabel]:
    """Every trainer's labels (of one line), oldest first."""
    query = select(InboxLabel).order_by(InboxLabel.labelled_at, InboxLabel.id)
    return list(session.scalars(query.where(InboxLabel.key == key) if key else query))


def label_of(session: Session, key: str, trainer: str) -> InboxLabel | None:
    return session.scalar(select(InboxLabel).where(InboxLabel.key == key, InboxLabel.trainer == trainer))


def forget(session: Session, label: InboxLabel) -> None:
    """Undo a trainer's label (the caller has removed any example it wrote); a deciding label reopens the line."""
    if label.decided:
        session.execute(delete(InboxDecision).where(InboxDecision.key == label.key))
    session.execute(delete(InboxLabel).where(InboxLabel.id == label.id))


def to_review(session: Session, trainer: str) -> list[InboxItem]:
    """Decided lines another trainer labelled and `trainer` has not: for a blind second opinion, most frequent first."""
    imported = {line.key: line for line in session.scalars(select(ImportedLine))}
    by_key: dict[str, list[InboxLabel]] = {}
    for label in labels(session):
        by_key.setdefault(label.key, []).append(label)
    items = []
    for key, group in by_key.items():
        if any(label.trainer == trainer for label in group) or not any(label.decided for label in group):
            continue
        line = imported.get(key)
        item = InboxItem(item_id(key), key, group[0].text, line.occurrences if line else 1)
        if line is not None:
            item.reasons, item.top3, item.source = {"imported"}, list(line.top3 or []), line.source
        items.append(item)
    return arrange(items)


def find_labelled(session: Session, item_id_: str) -> tuple[str, str] | None:
    """(key, text) of a decided line with this id that some trainer labelled, or None."""
    return next(
        ((label.key, label.text) for label in labels(session) if item_id(label.key) == item_id_),
        None,
    )
