"""initial shop schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 04:34:01.719460
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_account",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "buyer",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("nickname", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("province", sa.String(length=16), nullable=True),
        sa.Column("address", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "conversation_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=True),
        sa.Column("sender", sa.String(length=8), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.Column("intent", sa.String(length=32), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("agent", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "client_id"),
    )
    with op.batch_alter_table("conversation_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversation_message_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_conversation_message_created_at"), ["created_at"], unique=False)

    op.create_table(
        "handoff_ticket",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=True),
        sa.Column("buyer_id", sa.String(length=32), nullable=True),
        sa.Column("order_id", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.Column("open_key", sa.String(length=128), nullable=True),
        sa.Column("assigned_agent", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_key"),
    )
    with op.batch_alter_table("handoff_ticket", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handoff_ticket_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_handoff_ticket_status"), ["status"], unique=False)

    op.create_table(
        "inbox_decision",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("intent", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "product",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.Column("aliases", sa.JSON(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("material", sa.String(length=128), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("care", sa.Text(), nullable=True),
        sa.Column("size_chart", sa.JSON(), nullable=True),
        sa.Column("credentials", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "trainer_account",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "agent_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["username"],
            ["agent_account.username"],
        ),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("agent_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_session_username"), ["username"], unique=False)

    op.create_table(
        "shop_order",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("buyer_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("total_amount", sa.BigInteger(), nullable=True),
        sa.Column("shipping_fee", sa.BigInteger(), nullable=True),
        sa.Column("receiver_name", sa.String(length=64), nullable=True),
        sa.Column("receiver_phone", sa.String(length=20), nullable=True),
        sa.Column("province", sa.String(length=16), nullable=True),
        sa.Column("address", sa.String(length=255), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("paid_at", sa.DateTime(), nullable=True),
        sa.Column("shipped_at", sa.DateTime(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["buyer_id"],
            ["buyer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("shop_order", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shop_order_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shop_order_status"), ["status"], unique=False)

    op.create_table(
        "sku",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("color", sa.String(length=32), nullable=True),
        sa.Column("size", sa.String(length=32), nullable=True),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("product_id", "color", "size"),
    )
    with op.batch_alter_table("sku", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sku_product_id"), ["product_id"], unique=False)

    op.create_table(
        "trainer_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["username"],
            ["trainer_account.username"],
        ),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("trainer_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trainer_session_username"), ["username"], unique=False)

    op.create_table(
        "after_sale_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=20), nullable=True),
        sa.Column("buyer_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("postage_payer", sa.String(length=8), nullable=True),
        sa.Column("open_key", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["buyer_id"],
            ["buyer.id"],
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["shop_order.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_key"),
    )
    with op.batch_alter_table("after_sale_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_after_sale_request_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_after_sale_request_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_after_sale_request_status"), ["status"], unique=False)

    op.create_table(
        "order_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=20), nullable=True),
        sa.Column("sku_id", sa.Integer(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("unit_price", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["shop_order.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"],
            ["sku.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("order_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_item_order_id"), ["order_id"], unique=False)

    op.create_table(
        "shipment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=20), nullable=True),
        sa.Column("courier", sa.String(length=16), nullable=True),
        sa.Column("tracking_number", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("shipped_at", sa.DateTime(), nullable=True),
        sa.Column("expected_delivery_at", sa.DateTime(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("urged_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["shop_order.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id"),
    )
    op.create_table(
        "shipment_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=True),
        sa.Column("location", sa.String(length=64), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipment.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("shipment_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shipment_event_shipment_id"), ["shipment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shipment_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shipment_event_shipment_id"))

    op.drop_table("shipment_event")
    op.drop_table("shipment")
    with op.batch_alter_table("order_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_item_order_id"))

    op.drop_table("order_item")
    with op.batch_alter_table("after_sale_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_after_sale_request_status"))
        batch_op.drop_index(batch_op.f("ix_after_sale_request_order_id"))
        batch_op.drop_index(batch_op.f("ix_after_sale_request_buyer_id"))

    op.drop_table("after_sale_request")
    with op.batch_alter_table("trainer_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trainer_session_username"))

    op.drop_table("trainer_session")
    with op.batch_alter_table("sku", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sku_product_id"))

    op.drop_table("sku")
    with op.batch_alter_table("shop_order", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shop_order_status"))
        batch_op.drop_index(batch_op.f("ix_shop_order_buyer_id"))

    op.drop_table("shop_order")
    with op.batch_alter_table("agent_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_session_username"))

    op.drop_table("agent_session")
    op.drop_table("trainer_account")
    op.drop_table("product")
    op.drop_table("inbox_decision")
    with op.batch_alter_table("handoff_ticket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handoff_ticket_status"))
        batch_op.drop_index(batch_op.f("ix_handoff_ticket_conversation_id"))

    op.drop_table("handoff_ticket")
    with op.batch_alter_table("conversation_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_message_created_at"))
        batch_op.drop_index(batch_op.f("ix_conversation_message_conversation_id"))

    op.drop_table("conversation_message")
    op.drop_table("buyer")
    op.drop_table("agent_account")
