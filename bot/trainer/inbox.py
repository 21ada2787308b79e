"""The trainers' inbox: messages the bot understood badly, gathered from real conversations.

A bot answer lands here when its intent was the fallback, its confidence was low, or
the top two intents nearly tied; so does the buyer's last message before a handoff,
and any answer an agent marked as misunderstood. Repeats of one message (by the same
key the training data uses) are merged with a count. Decisions are remembered so an
item does not come back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import ConversationMessage, HandoffTicket, InboxDecision
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


def collect(session: Session, limit: int | None = 100) -> list[InboxItem]:
    """Open inbox items, most frequent first."""
    decided = set(session.scalars(select(InboxDecision.key)))
    handoff_at = dict(session.execute(select(HandoffTicket.conversation_id, HandoffTicket.created_at)).all())
    items: dict[str, InboxItem] = {}
    # One query for every transcript, conversation by conversation (not one query per conversation).
    rows = session.scalars(
        select(ConversationMessage).order_by(ConversationMessage.conversation_id, ConversationMessage.id)
    )
    for conversation_id, lines in groupby(rows, key=lambda row: row.conversation_id):
        _gather(list(lines), handoff_at.get(conversation_id), decided, items)
    return sorted(items.values(), key=lambda item: (-item.count, item.text))[:limit]


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


def decide(session: Session, key: str, decision: str, intent: str | None, now: datetime) -> None:
    """Remember a decision (the caller has already written any new example)."""
    if decision not in ("labelled", "test", "dismissed"):
        raise ValueError(f"unknown inbox decision {decision!r}")
    session.merge(InboxDecision(key=key, decision=decision, intent=intent, decided_at=now))
