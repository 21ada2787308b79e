"""After-sale requests (refund, return, exchange, reissue): eligibility and creation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.models import AfterSaleKind, AfterSaleRequest, AfterSaleStatus, Order, OrderStatus
from bot.policy import ShopPolicy
from bot.vocabulary import AFTER_SALE_KIND, AFTER_SALE_REASON, AFTER_SALE_STATUS

# Reasons that are the shop's fault: accepted for longer and the shop pays postage.
SELLER_FAULT = ("quality", "wrong_item", "missing_item", "color_difference")


class Verdict(str, Enum):
    OK = "ok"
    NOT_PAID = "not_paid"  # nothing to refund: cancel the order instead
    CLOSED = "closed"  # cancelled or already refunded
    IN_PROGRESS = "in_progress"  # an open request exists
    NO_REASON_EXPIRED = "no_reason_expired"  # past 7 days: only the shop's fault counts now
    EXPIRED = "expired"  # past the quality window too: a person decides


@dataclass(frozen=True)
class Eligibility:
    verdict: Verdict
    allowed_kinds: tuple[str, ...] = ()
    days_since_delivery: int | None = None


@dataclass(frozen=True)
class RequestView:
    id: int
    order_id: str
    kind: str
    reason: str
    status: str
    amount: Decimal
    postage_payer: str
    created_at: datetime

    @property
    def kind_label(self) -> str:
        return AFTER_SALE_KIND[self.kind]

    @property
    def reason_label(self) -> str:
        return AFTER_SALE_REASON.get(self.reason, self.reason)

    @property
    def status_label(self) -> str:
        return AFTER_SALE_STATUS[self.status]


def _view(r: AfterSaleRequest) -> RequestView:
    return RequestView(r.id, r.order_id, r.kind, r.reason, r.status, r.amount, r.postage_payer, r.created_at)


def open_request(session: Session, order_id: str) -> RequestView | None:
    row = session.scalars(
        select(AfterSaleRequest).where(
            AfterSaleRequest.order_id == order_id,
            AfterSaleRequest.status.in_(AfterSaleStatus.OPEN),
        )
    ).first()
    return _view(row) if row else None


def latest_request(session: Session, order_id: str) -> RequestView | None:
    row = session.scalars(
        select(AfterSaleRequest)
        .where(AfterSaleRequest.order_id == order_id)
        .order_by(AfterSaleRequest.created_at.desc(), AfterSaleRequest.id.desc())
    ).first()
    return _view(row) if row else None


def eligibility(
    session: Session, order_id: str, policy: ShopPolicy, now: datetime, reason: str | None = None
) -> Eligibility:
    """What after-sale service this order can get now (optionally for a given reason)."""
    order = session.get(Order, order_id)
    if order is None:
        raise LookupError(order_id)
    if open_request(session, order_id):
        return Eligibility(Verdict.IN_PROGRESS)
    if order.status == OrderStatus.UNPAID:
        return Eligibility(Verdict.NOT_PAID)
    if order.status in (OrderStatus.CANCELLED, OrderStatus.REFUNDED, OrderStatus.REFUNDING):
        return Eligibility(Verdict.CLOSED)
    if order.status == OrderStatus.PAID:
        return Eligibility(Verdict.OK, (AfterSaleKind.REFUND_ONLY,))
    wrong_goods = reason in ("wrong_item", "missing_item")
    if order.delivered_at is None and not (wrong_goods and order.status == OrderStatus.SHIPPED):
        # In transit: refuse the parcel at the door and it comes back to us.
        return Eligibility(Verdict.OK, (AfterSaleKind.RETURN_REFUND,))
    # A buyer who says the parcel held the wrong goods has it, whatever the tracking says yet.
    days = (now - order.delivered_at).days if order.delivered_at else 0
    kinds = (AfterSaleKind.RETURN_REFUND, AfterSaleKind.EXCHANGE)
    if wrong_goods:
        kinds += (AfterSaleKind.REISSUE,)  # the right or the missing piece is simply sent
    if days < policy.no_reason_days:
        return Eligibility(Verdict.OK, kinds, days)
    if days < policy.quality_days:
        # Past the no-reason window only the shop's own faults count (colour is a matter of taste).
        if reason in SELLER_FAULT and reason != "color_difference":
            return Eligibility(Verdict.OK, kinds, days)
        return Eligibility(Verdict.NO_REASON_EXPIRED, kinds, days)
    return Eligibility(Verdict.EXPIRED, (), days)


def create_request(
    session: Session,
    order_id: str,
    kind: str,
    reason: str,
    detail: str,
    policy: ShopPolicy,
    now: datetime,
) -> tuple[RequestView, bool]:
    """Create the request, or return the open one: (request, created?)."""
    if kind not in AfterSaleKind.ALL:
        raise ValueError(f"unknown after-sale kind {kind!r}")
    if reason not in AFTER_SALE_REASON:
        raise ValueError(f"unknown after-sale reason {reason!r}")
    existing = open_request(session, order_id)
    if existing:
        return existing, False
    order = session.get(Order, order_id)
    if order is None:
        raise LookupError(order_id)
    goods = order.total_amount - order.shipping_fee
    amount = order.total_amount if order.status == OrderStatus.PAID else goods
    if kind in (AfterSaleKind.EXCHANGE, AfterSaleKind.REISSUE):
        amount = Decimal(0)
    request = AfterSaleRequest(
        order_id=order_id, buyer_id=order.buyer_id, kind=kind, reason=reason,
        detail=detail.strip()[:500], status=AfterSaleStatus.PENDING, amount=amount,
        postage_payer=policy.postage_payer(reason), open_key=order_id,
        created_at=now, updated_at=now,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(request)
            if kind in (AfterSaleKind.REFUND_ONLY, AfterSaleKind.RETURN_REFUND):
                order.status = OrderStatus.REFUNDING
                order.updated_at = now
    except IntegrityError:
        # A concurrent request for the same order won the race: report that one.
        session.expire(order)
        winner = open_request(session, order_id)
        if winner is None:
            raise
        return winner, False
    session.flush()
    return _view(request), True
