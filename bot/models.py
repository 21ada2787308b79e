"""The shop's tables: catalogue, buyers, orders, shipments, after-sale, handoff, transcript.

Status values are plain strings (readable in SQL and in exports); the Chinese labels
buyers see live in `bot.vocabulary`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, declarative_base, relationship

Base = declarative_base()


class Money(TypeDecorator):
    """Yuan as Decimal in Python, whole fen (cents) in the database: exact everywhere."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> int | None:
        return None if value is None else int((Decimal(value) * 100).to_integral_value())

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        return None if value is None else (Decimal(value) / 100).quantize(Decimal("0.01"))


class OrderStatus:
    UNPAID = "unpaid"  # 待付款
    PAID = "paid"  # 待发货
    SHIPPED = "shipped"  # 已发货
    DELIVERED = "delivered"  # 已签收
    COMPLETED = "completed"  # 已完成
    REFUNDING = "refunding"  # 退款中
    REFUNDED = "refunded"  # 已退款
    CANCELLED = "cancelled"  # 已取消

    ALL = (UNPAID, PAID, SHIPPED, DELIVERED, COMPLETED, REFUNDING, REFUNDED, CANCELLED)


class ShipmentStatus:
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    LOST = "lost"


class AfterSaleKind:
    REFUND_ONLY = "refund_only"  # 仅退款
    RETURN_REFUND = "return_refund"  # 退货退款
    EXCHANGE = "exchange"  # 换货
    REISSUE = "reissue"  # 补发

    ALL = (REFUND_ONLY, RETURN_REFUND, EXCHANGE, REISSUE)


class AfterSaleStatus:
    PENDING = "pending"  # 待审核
    AWAITING_RETURN = "awaiting_return"  # 待买家寄回
    RETURN_RECEIVED = "return_received"  # 仓库已收货
    COMPLETED = "completed"  # 已完成 (refunded / exchanged / reissued)
    REJECTED = "rejected"
    CLOSED = "closed"  # withdrawn by the buyer

    OPEN = (PENDING, AWAITING_RETURN, RETURN_RECEIVED)


class TicketStatus:
    PENDING = "pending"  # waiting for an agent
    OPEN = "open"  # an agent is on it
    RESOLVED = "resolved"  # handed back to the bot


class Product(Base):
    __tablename__ = "product"

    id: Mapped[int] = Column(Integer, primary_key=True)
    code: Mapped[str] = Column(String(16), unique=True)
    name: Mapped[str] = Column(String(64), unique=True)
    # Other names buyers use (连衣裙, 雨伞 …); the NLU catalogue matcher reads them.
    aliases: Mapped[list[str]] = Column(JSON, default=list)
    category: Mapped[str] = Column(String(32))
    material: Mapped[str] = Column(String(128))
    description: Mapped[str] = Column(Text)
    care: Mapped[str] = Column(Text, default="")
    # Rows of {"size", and either "height"/"weight" ranges (apparel) or "fits" (bedding)}.
    size_chart: Mapped[list[dict[str, Any]]] = Column(JSON, default=list)
    # Proof of authenticity specific to this product (authorisation no., test report …).
    credentials: Mapped[list[str]] = Column(JSON, default=list)

    skus: Mapped[list[Sku]] = relationship("Sku", back_populates="product", order_by="Sku.id")


class Sku(Base):
    __tablename__ = "sku"
    __table_args__ = (UniqueConstraint("product_id", "color", "size"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    product_id: Mapped[int] = Column(ForeignKey("product.id"), index=True)
    color: Mapped[str] = Column(String(32))
    size: Mapped[str] = Column(String(32))
    price: Mapped[Decimal] = Column(Money())
    stock: Mapped[int] = Column(Integer, default=0)

    product: Mapped[Product] = relationship("Product", back_populates="skus")


class Buyer(Base):
    __tablename__ = "buyer"

    id: Mapped[str] = Column(String(32), primary_key=True)  # the shop page's buyer id
    nickname: Mapped[str] = Column(String(64))
    phone: Mapped[str] = Column(String(20))
    province: Mapped[str] = Column(String(16))
    address: Mapped[str] = Column(String(255))
    created_at: Mapped[datetime] = Column(DateTime)

    orders: Mapped[list[Order]] = relationship("Order", back_populates="buyer")


class Order(Base):
    __tablename__ = "shop_order"

    id: Mapped[str] = Column(String(20), primary_key=True)  # 16-digit order number
    buyer_id: Mapped[str] = Column(ForeignKey("buyer.id"), index=True)
    status: Mapped[str] = Column(String(16), index=True)
    total_amount: Mapped[Decimal] = Column(Money())
    shipping_fee: Mapped[Decimal] = Column(Money(), default=Decimal(0))
    receiver_name: Mapped[str] = Column(String(64))
    receiver_phone: Mapped[str] = Column(String(20))
    province: Mapped[str] = Column(String(16))
    address: Mapped[str] = Column(String(255))
    note: Mapped[str] = Column(Text, default="")
    created_at: Mapped[datetime] = Column(DateTime)
    paid_at: Mapped[datetime | None] = Column(DateTime, nullable=True)
    shipped_at: Mapped[datetime | None] = Column(DateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = Column(DateTime, nullable=True)
    completed_at: Mapped[datetime | None] = Column(DateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = Column(DateTime, nullable=True)
    updated_at: Mapped[datetime] = Column(DateTime)

    buyer: Mapped[Buyer] = relationship("Buyer", back_populates="orders")
    items: Mapped[list[OrderItem]] = relationship("OrderItem", back_populates="order", order_by="OrderItem.id")
    shipment: Mapped[Shipment | None] = relationship("Shipment", back_populates="order", uselist=False)
    after_sale_requests: Mapped[list[AfterSaleRequest]] = relationship(
        "AfterSaleRequest", back_populates="order", order_by="AfterSaleRequest.id"
    )


class OrderItem(Base):
    __tablename__ = "order_item"

    id: Mapped[int] = Column(Integer, primary_key=True)
    order_id: Mapped[str] = Column(ForeignKey("shop_order.id"), index=True)
    sku_id: Mapped[int] = Column(ForeignKey("sku.id"))
    quantity: Mapped[int] = Column(Integer)
    unit_price: Mapped[Decimal] = Column(Money())

    order: Mapped[Order] = relationship("Order", back_populates="items")
    sku: Mapped[Sku] = relationship(
        "Sku",
    )


class Shipment(Base):
    __tablename__ = "shipment"

    id: Mapped[int] = Column(Integer, primary_key=True)
    order_id: Mapped[str] = Column(ForeignKey("shop_order.id"), unique=True)
    courier: Mapped[str] = Column(String(16))
    tracking_number: Mapped[str] = Column(String(32))
    status: Mapped[str] = Column(String(16))
    shipped_at: Mapped[datetime] = Column(DateTime)
    expected_delivery_at: Mapped[datetime] = Column(DateTime)
    delivered_at: Mapped[datetime | None] = Column(DateTime, nullable=True)
    urged_at: Mapped[datetime | None] = Column(DateTime, nullable=True)

    order: Mapped[Order] = relationship("Order", back_populates="shipment")
    events: Mapped[list[ShipmentEvent]] = relationship(
        "ShipmentEvent", back_populates="shipment", order_by="ShipmentEvent.occurred_at"
    )


class ShipmentEvent(Base):
    __tablename__ = "shipment_event"

    id: Mapped[int] = Column(Integer, primary_key=True)
    shipment_id: Mapped[int] = Column(ForeignKey("shipment.id"), index=True)
    occurred_at: Mapped[datetime] = Column(DateTime)
    location: Mapped[str] = Column(String(64))
    description: Mapped[str] = Column(String(255))

    shipment: Mapped[Shipment] = relationship("Shipment", back_populates="events")


class AfterSaleRequest(Base):
    __tablename__ = "after_sale_request"
    # open_key holds the order id while the request is open and NULL afterwards, so the
    # database itself refuses a second open request for one order (idempotent creation).
    __table_args__ = (UniqueConstraint("open_key"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    order_id: Mapped[str] = Column(ForeignKey("shop_order.id"), index=True)
    buyer_id: Mapped[str] = Column(ForeignKey("buyer.id"), index=True)
    kind: Mapped[str] = Column(String(16))
    reason: Mapped[str] = Column(String(32))
    detail: Mapped[str] = Column(Text, default="")
    status: Mapped[str] = Column(String(16), index=True)
    amount: Mapped[Decimal] = Column(Money())
    postage_payer: Mapped[str] = Column(String(8))  # buyer | seller
    open_key: Mapped[str | None] = Column(String(20), nullable=True)
    created_at: Mapped[datetime] = Column(DateTime)
    updated_at: Mapped[datetime] = Column(DateTime)

    order: Mapped[Order] = relationship("Order", back_populates="after_sale_requests")


class HandoffTicket(Base):
    __tablename__ = "handoff_ticket"
    # One active ticket per conversation, enforced like AfterSaleRequest.open_key.
    __table_args__ = (UniqueConstraint("open_key"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    conversation_id: Mapped[str] = Column(String(128), index=True)
    buyer_id: Mapped[str | None] = Column(String(32), nullable=True)
    order_id: Mapped[str | None] = Column(String(20), nullable=True)
    reason: Mapped[str] = Column(String(32))
    priority: Mapped[int] = Column(Integer)  # lower is more urgent
    status: Mapped[str] = Column(String(16), index=True)
    # What the agent needs at a glance: intents, entities, slots and the recent transcript.
    context: Mapped[dict[str, Any]] = Column(JSON, default=dict)
    open_key: Mapped[str | None] = Column(String(128), nullable=True)
    assigned_agent: Mapped[str | None] = Column(String(64), nullable=True)
    created_at: Mapped[datetime] = Column(DateTime)
    claimed_at: Mapped[datetime | None] = Column(DateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = Column(DateTime, nullable=True)


class ConversationMessage(Base):
    """One line of a buyer's conversation, whoever said it; the id orders them."""

    __tablename__ = "conversation_message"
    # A buyer's message carries the id its widget gave it, so a resend after a dropped
    # connection is recognised and stored once.
    __table_args__ = (UniqueConstraint("conversation_id", "client_id"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    conversation_id: Mapped[str] = Column(String(128), index=True)
    sender: Mapped[str] = Column(String(8))  # buyer | bot | agent | system
    text: Mapped[str] = Column(Text)
    client_id: Mapped[str | None] = Column(String(64), nullable=True)
    # Buttons and other rich parts of a bot message, as Rasa sent them.
    extra: Mapped[dict[str, Any]] = Column(JSON, default=dict)
    intent: Mapped[str | None] = Column(String(32), nullable=True)
    confidence: Mapped[float | None] = Column(Float, nullable=True)
    agent: Mapped[str | None] = Column(String(64), nullable=True)
    created_at: Mapped[datetime] = Column(DateTime, index=True)


class _AccountColumns:
    """Agents and trainers sign in alike but hold separate accounts: an agent cannot retrain the bot."""

    username: Mapped[str] = Column(String(64), primary_key=True)
    display_name: Mapped[str] = Column(String(64))
    password_hash: Mapped[str] = Column(String(255))  # scrypt, see bot.web.accounts
    created_at: Mapped[datetime] = Column(DateTime)


class AgentAccount(_AccountColumns, Base):
    __tablename__ = "agent_account"


class TrainerAccount(_AccountColumns, Base):
    __tablename__ = "trainer_account"


class _SessionColumns:
    token_hash: Mapped[str] = Column(String(64), primary_key=True)  # sha256 of the cookie
    expires_at: Mapped[datetime] = Column(DateTime)


class AgentSession(_SessionColumns, Base):
    __tablename__ = "agent_session"

    username: Mapped[str] = Column(ForeignKey("agent_account.username"), index=True)


class TrainerSession(_SessionColumns, Base):
    __tablename__ = "trainer_session"

    username: Mapped[str] = Column(ForeignKey("trainer_account.username"), index=True)


# Longest example key: examples are at most 300 characters (bot.trainer.examples.MAX_LENGTH), and Unicode
# normalisation can lengthen a few characters, so keys get room beyond that.
KEY_LENGTH = 400


class InboxDecision(Base):
    """What a trainer decided about a misunderstood message (by its normalised key)."""

    __tablename__ = "inbox_decision"

    key: Mapped[str] = Column(String(KEY_LENGTH), primary_key=True)
    decision: Mapped[str] = Column(String(16))  # labelled | test | dismissed
    intent: Mapped[str | None] = Column(String(32), nullable=True)
    decided_at: Mapped[datetime] = Column(DateTime)


class ImportedLine(Base):
    """A buyer's line from a shop's own chat history (`./shop inbox import`), waiting in the inbox with the bot's guesses."""

    __tablename__ = "imported_line"

    id: Mapped[int] = Column(Integer, primary_key=True)
    key: Mapped[str] = Column(String(KEY_LENGTH), unique=True)  # example_key(text): one row per message
    text: Mapped[str] = Column(Text)
    source: Mapped[str] = Column(String(64), index=True)
    session: Mapped[str | None] = Column(String(128), nullable=True)
    occurrences: Mapped[int] = Column(Integer, default=1)  # how often the file had it (repeats are merged)
    # The serving model's top three [{"intent", "confidence"}], best first, when the line was imported.
    top3: Mapped[list[dict[str, Any]]] = Column(JSON, default=list)
    top_confidence: Mapped[float] = Column(Float)
    margin: Mapped[float] = Column(Float)  # top minus second confidence: small means the bot hesitated
    imported_at: Mapped[datetime] = Column(DateTime)
    batch: Mapped[str] = Column(String(32), index=True)


class InboxLabel(Base):
    """One trainer's label of one inbox line, kept so that two trainers' labels of the same line can be compared."""

    __tablename__ = "inbox_label"
    __table_args__ = (UniqueConstraint("key", "trainer"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    key: Mapped[str] = Column(String(KEY_LENGTH), index=True)
    text: Mapped[str] = Column(Text)  # as written to the data (a decided line is no longer in the inbox)
    trainer: Mapped[str] = Column(String(64))
    decision: Mapped[str] = Column(String(16))  # labelled | test | dismissed
    intent: Mapped[str | None] = Column(String(32), nullable=True)
    # True when this label decided the line (wrote the example); a later trainer's label is a second opinion only.
    decided: Mapped[bool] = Column(Boolean, default=False)
    labelled_at: Mapped[datetime] = Column(DateTime)


class FailedAttempt(Base):
    """One failed try at something worth guessing (an order's phone digits, a password), for lockouts.

    Stored in the shop database, not in a process's memory, so every gateway and action-server
    replica counts the same failures (bot.shop.lockout).
    """

    __tablename__ = "failed_attempt"
    __table_args__ = (Index("ix_failed_attempt_scope_subject_at", "scope", "subject", "at"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    scope: Mapped[str] = Column(String(32))  # verify_order | verify_ip | login_account | login_ip
    subject: Mapped[str] = Column(String(128))  # the order id, the client IP, "agent:name" …
    at: Mapped[datetime] = Column(DateTime, index=True)


class UsedBuyerToken(Base):
    """The nonce of every buyer token the gateway accepted, until the token expires: a replay is refused."""

    __tablename__ = "used_buyer_token"

    nonce: Mapped[str] = Column(String(64), primary_key=True)
    buyer_id: Mapped[str] = Column(String(64))
    expires_at: Mapped[datetime] = Column(DateTime, index=True)
