"""Orders and shipments: who may see an order, its status and logistics, and changes.

Every function takes the session of the caller's unit of work and returns plain
views, so callers never touch ORM objects after the session has closed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.models import (
    AfterSaleKind,
    AfterSaleRequest,
    AfterSaleStatus,
    Order,
    OrderItem,
    OrderStatus,
    Shipment,
    ShipmentStatus,
    Sku,
)
from bot.policy import ShopPolicy
from bot.privacy import mask_address, mask_phone
from bot.vocabulary import ORDER_STATUS

ORDER_ID = re.compile(r"(?<!\d)26\d{14}(?!\d)")
# Something the buyer meant as an order number but that cannot be one (wrong length).
ORDER_ID_LIKE = re.compile(r"(?<!\d)\d{8,24}(?!\d)")
UNSHIPPED = (OrderStatus.UNPAID, OrderStatus.PAID)


class Delivery(str, Enum):
    NOT_SHIPPED = "not_shipped"
    ON_TIME = "on_time"
    LATE = "late"
    LOST = "lost"
    DELIVERED = "delivered"


class Access(str, Enum):
    OK = "ok"
    MALFORMED = "malformed"  # not a 16-digit order number
    NOT_FOUND = "not_found"  # unknown, or someone else's: the buyer is not told which
    NEED_PHONE = "need_phone"  # anonymous buyer: ask for the last 4 digits of the phone
    PHONE_MISMATCH = "phone_mismatch"
    LOCKED = "locked"  # too many wrong digits for this order or from this client (bot.shop.verification)


@dataclass(frozen=True)
class OrderView:
    id: str
    buyer_id: str
    status: str
    created_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    total: Decimal
    items: tuple[str, ...]
    province: str
    masked_phone: str
    masked_address: str
    courier: str | None
    tracking_number: str | None
    expected_delivery_at: datetime | None
    events: tuple[tuple[datetime, str], ...]
    delivery: Delivery
    open_after_sale_id: int | None

    @property
    def status_label(self) -> str:
        return ORDER_STATUS[self.status]

    @property
    def items_text(self) -> str:
        return "、".join(self.items)

    @property
    def latest_event(self) -> str:
        if not self.events:
            return "暂无物流信息"
        at, text = self.events[-1]
        return f"{at:%m-%d %H:%M} {text}"


def extract_order_id(text: str | None) -> str | None:
    match = ORDER_ID.search(text or "")
    return match.group(0) if match else None


def _load(session: Session, order_id: str) -> Order | None:
    return session.scalars(
        select(Order)
        .where(Order.id == order_id)
        .options(
            selectinload(Order.items).selectinload(OrderItem.sku).selectinload(Sku.product),
            selectinload(Order.shipment).selectinload(Shipment.events),
            selectinload(Order.after_sale_requests),
        )
    ).first()


def delivery_state(order: Order, policy: ShopPolicy, now: datetime) -> Delivery:
    shipment = order.shipment
    if shipment is None:
        return Delivery.NOT_SHIPPED
    if shipment.status == ShipmentStatus.DELIVERED:
        return Delivery.DELIVERED
    last_update = max((e.occurred_at for e in shipment.events), default=shipment.shipped_at)
    if shipment.status == ShipmentStatus.LOST or now - last_update > timedelta(days=policy.lost_after_days):
        return Delivery.LOST
    if now > shipment.expected_delivery_at:
        return Delivery.LATE
    return Delivery.ON_TIME


def view(order: Order, policy: ShopPolicy, now: datetime) -> OrderView:
    shipment = order.shipment
    open_request = next((r for r in order.after_sale_requests if r.status in AfterSaleStatus.OPEN), None)
    return OrderView(
        id=order.id,
        buyer_id=order.buyer_id,
        status=order.status,
        created_at=order.created_at,
        paid_at=order.paid_at,
        shipped_at=order.shipped_at,
        delivered_at=order.delivered_at,
        total=order.total_amount,
        items=tuple(f"{i.sku.product.name}（{i.sku.color}/{i.sku.size}）×{i.quantity}" for i in order.items),
        province=order.province,
        masked_phone=mask_phone(order.receiver_phone),
        masked_address=mask_address(order.address),
        courier=shipment.courier if shipment else None,
        tracking_number=shipment.tracking_number if shipment else None,
        expected_delivery_at=shipment.expected_delivery_at if shipment else None,
        events=tuple((e.occurred_at, e.description) for e in shipment.events) if shipment else (),
        delivery=delivery_state(order, policy, now),
        open_after_sale_id=open_request.id if open_request else None,
    )


def check_access(session: Session, order_id: str | None, buyer_id: str | None, phone_last4: str | None) -> Access:
    """May this buyer see this order? Someone else's order looks exactly like an unknown one."""
    if not order_id or not ORDER_ID.fullmatch(order_id):
        return Access.MALFORMED
    order = session.get(Order, order_id)
    if order is None:
        return Access.NOT_FOUND
    if buyer_id:
        return Access.OK if order.buyer_id == buyer_id else Access.NOT_FOUND
    if not phone_last4:
        return Access.NEED_PHONE
    return Access.OK if order.receiver_phone[-4:] == phone_last4 else Access.PHONE_MISMATCH


def get_order(session: Session, order_id: str, policy: ShopPolicy, now: datetime) -> OrderView | None:
    order = _load(session, order_id)
    return view(order, policy, now) if order else None


def recent_orders(
    session: Session, buyer_id: str, policy: ShopPolicy, now: datetime, limit: int = 4
) -> list[OrderView]:
    ids = session.scalars(
        select(Order.id).where(Order.buyer_id == buyer_id).order_by(Order.created_at.desc()).limit(limit)
    ).all()
    return [v for v in (get_order(session, i, policy, now) for i in ids) if v]


def unshipped_paid_orders(session: Session, buyer_id: str, policy: ShopPolicy, now: datetime) -> list[OrderView]:
    ids = session.scalars(
        select(Order.id).where(Order.buyer_id == buyer_id, Order.status == OrderStatus.PAID).order_by(Order.paid_at)
    ).all()
    return [v for v in (get_order(session, i, policy, now) for i in ids) if v]


def urge_courier(session: Session, order_id: str, now: datetime) -> bool:
    """Record that the buyer asked us to chase the courier; False if nothing to chase."""
    shipment = session.scalars(select(Shipment).where(Shipment.order_id == order_id)).first()
    if shipment is None or shipment.status == ShipmentStatus.DELIVERED:
        return False
    shipment.urged_at = now
    return True


class ChangeResult(str, Enum):
    DONE = "done"
    TOO_LATE = "too_late"  # already shipped or closed
    NOT_FOUND = "not_found"


def _unshipped(session: Session, order_id: str) -> Order | ChangeResult:
    """The order, locked for the change, or why it cannot be changed."""
    order = session.get(Order, order_id, with_for_update=True)
    if order is None:
        return ChangeResult.NOT_FOUND
    return order if order.status in UNSHIPPED else ChangeResult.TOO_LATE


def change_address(session: Session, order_id: str, new_address: str, now: datetime) -> ChangeResult:
    order = _unshipped(session, order_id)
    if isinstance(order, ChangeResult):
        return order
    order.address = new_address.strip()[:255]
    order.updated_at = now
    return ChangeResult.DONE


def add_note(session: Session, order_id: str, note: str, now: datetime) -> ChangeResult:
    """A note for the warehouse (change of spec or courier, later shipping …)."""
    order = _unshipped(session, order_id)
    if isinstance(order, ChangeResult):
        return order
    stamp = f"[{now:%m-%d %H:%M} 买家] {note.strip()[:200]}"
    order.note = f"{order.note}\n{stamp}".strip()
    order.updated_at = now
    return ChangeResult.DONE


def cancel_order(session: Session, order_id: str, now: datetime) -> ChangeResult:
    """Cancel an unpaid order, or refund a paid one that has not shipped yet."""
    order = _unshipped(session, order_id)
    if isinstance(order, ChangeResult):
        return order
    order.cancelled_at = now
    if order.status == OrderStatus.UNPAID:
        order.status = OrderStatus.CANCELLED
    else:
        # Unshipped paid orders are refunded at once, as the platforms do.
        order.status = OrderStatus.REFUNDED
        session.add(
            AfterSaleRequest(
                order_id=order.id, buyer_id=order.buyer_id, kind=AfterSaleKind.REFUND_ONLY,
                reason="dislike", detail="未发货取消订单", status=AfterSaleStatus.COMPLETED,
                amount=order.total_amount, postage_payer="seller", open_key=None,
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
    order.updated_at = now
    return ChangeResult.DONE
