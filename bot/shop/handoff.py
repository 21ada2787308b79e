"""The handoff queue: tickets that hand a conversation to a human agent and back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.models import HandoffTicket, TicketStatus
from bot.vocabulary import HANDOFF_REASON

# Lower is served first: angry buyers and lost parcels before everything else.
PRIORITY = {"complaint": 0, "lost_parcel": 1, "policy": 2, "misunderstood": 2, "requested": 3}


@dataclass(frozen=True)
class TicketView:
    id: int
    conversation_id: str
    reason: str
    status: str
    priority: int
    buyer_id: str | None
    order_id: str | None
    created_at: datetime
    assigned_agent: str | None
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def reason_label(self) -> str:
        return HANDOFF_REASON.get(self.reason, self.reason)


def _view(t: HandoffTicket) -> TicketView:
    return TicketView(
        t.id, t.conversation_id, t.reason, t.status, t.priority, t.buyer_id, t.order_id,
        t.created_at, t.assigned_agent, dict(t.context or {}),
    )  # fmt: skip


def active_ticket(session: Session, conversation_id: str) -> TicketView | None:
    row = session.scalars(
        select(HandoffTicket).where(
            HandoffTicket.conversation_id == conversation_id,
            HandoffTicket.status != TicketStatus.RESOLVED,
        )
    ).first()
    return _view(row) if row else None


def open_ticket(
    session: Session,
    conversation_id: str,
    reason: str,
    buyer_id: str | None,
    order_id: str | None,
    context: dict[str, Any],
    now: datetime,
) -> tuple[TicketView, bool]:
    """Open a ticket for the conversation, or return its active one: (ticket, created?)."""
    if reason not in HANDOFF_REASON:
        raise ValueError(f"unknown handoff reason {reason!r}")
    existing = active_ticket(session, conversation_id)
    if existing:
        return existing, False
    ticket = HandoffTicket(
        conversation_id=conversation_id, buyer_id=buyer_id, order_id=order_id, reason=reason,
        priority=PRIORITY[reason], status=TicketStatus.PENDING, context=context,
        open_key=conversation_id, created_at=now,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(ticket)
    except IntegrityError:
        winner = active_ticket(session, conversation_id)
        if winner is None:
            raise
        return winner, False
    session.flush()
    return _view(ticket), True


def queue_position(session: Session, ticket_id: int) -> int:
    """1 for the next ticket an agent will take; 0 once an agent has it."""
    ticket = session.get(HandoffTicket, ticket_id)
    if ticket is None or ticket.status != TicketStatus.PENDING:
        return 0
    ahead = session.scalar(
        select(func.count())
        .select_from(HandoffTicket)
        .where(
            HandoffTicket.status == TicketStatus.PENDING,
            or_(
                HandoffTicket.priority < ticket.priority,
                (HandoffTicket.priority == ticket.priority) & (HandoffTicket.created_at < ticket.created_at),
                (HandoffTicket.priority == ticket.priority)
                & (HandoffTicket.created_at == ticket.created_at)
                & (HandoffTicket.id < ticket.id),
            ),
        )
    )
    return int(ahead or 0) + 1


def list_tickets(session: Session, include_resolved: bool = False) -> list[TicketView]:
    """The queue in the order agents should take it: most urgent first, then oldest."""
    query = select(HandoffTicket).order_by(HandoffTicket.priority, HandoffTicket.created_at)
    if not include_resolved:
        query = query.where(HandoffTicket.status != TicketStatus.RESOLVED)
    return [_view(t) for t in session.scalars(query)]


def get_ticket(session: Session, ticket_id: int) -> TicketView | None:
    row = session.get(HandoffTicket, ticket_id, populate_existing=True)
    return _view(row) if row else None


def claim_ticket(session: Session, ticket_id: int, agent: str, now: datetime) -> bool:
    """Give a pending ticket to `agent`. Exactly one of many concurrent claims wins."""
    result = session.execute(
        update(HandoffTicket)
        .where(HandoffTicket.id == ticket_id, HandoffTicket.status == TicketStatus.PENDING)
        .values(status=TicketStatus.OPEN, assigned_agent=agent, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def resolve_ticket(session: Session, ticket_id: int, now: datetime) -> TicketView | None:
    """Close the ticket so the bot takes the conversation back; None if not active."""
    result = session.execute(
        update(HandoffTicket)
        .where(HandoffTicket.id == ticket_id, HandoffTicket.status != TicketStatus.RESOLVED)
        .values(status=TicketStatus.RESOLVED, resolved_at=now, open_key=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return get_ticket(session, ticket_id)


def transfer_ticket(session: Session, ticket_id: int, from_agent: str, to_agent: str) -> bool:
    """Hand an open ticket from its agent to a colleague; False if `from_agent` does not hold it."""
    result = session.execute(
        update(HandoffTicket)
        .where(
            HandoffTicket.id == ticket_id,
            HandoffTicket.status == TicketStatus.OPEN,
            HandoffTicket.assigned_agent == from_agent,
        )
        .values(assigned_agent=to_agent)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
