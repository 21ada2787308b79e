"""The conversation transcript: every buyer, bot, agent and system line, in order."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import ConversationMessage


@dataclass(frozen=True)
class Line:
    id: int
    conversation_id: str
    sender: str
    text: str
    client_id: str | None
    extra: dict[str, Any]
    intent: str | None
    confidence: float | None
    agent: str | None
    created_at: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _line(row: ConversationMessage) -> Line:
    return Line(
        row.id, row.conversation_id, row.sender, row.text, row.client_id, dict(row.extra or {}), row.intent,
        row.confidence, row.agent, row.created_at.isoformat(timespec="seconds"),
    )  # fmt: skip


def append(
    session: Session,
    conversation_id: str,
    sender: str,
    text: str,
    now: datetime,
    client_id: str | None = None,
    **fields: Any,
) -> tuple[Line, bool]:
    """Store a line; a buyer line whose client_id is already stored is returned as is."""
    if client_id:
        existing = session.scalars(
            select(ConversationMessage).where(
                ConversationMessage.conversation_id == conversation_id, ConversationMessage.client_id == client_id
            )
        ).first()
        if existing:
            return _line(existing), False
    row = ConversationMessage(
        conversation_id=conversation_id, sender=sender, text=text, client_id=client_id, created_at=now,
        extra=fields.get("extra") or {}, intent=fields.get("intent"), confidence=fields.get("confidence"),
        agent=fields.get("agent"),
    )  # fmt: skip
    session.add(row)
    session.flush()
    return _line(row), True


def history(session: Session, conversation_id: str, after_id: int = 0) -> list[Line]:
    rows = session.scalars(
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == conversation_id, ConversationMessage.id > after_id)
        .order_by(ConversationMessage.id)
    )
    return [_line(r) for r in rows]
