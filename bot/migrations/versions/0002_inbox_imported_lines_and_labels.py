"""inbox: imported chat lines and per-trainer labels

imported_line holds buyers' lines from `./shop inbox import`; inbox_label one label per line and trainer (for
agreement between trainers). inbox_decision.key widens to 400 characters like the new keys: a 300-character
example can have a key longer than 255 after normalisation, which PostgreSQL would refuse.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 19:27:46.707584
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imported_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("session", sa.String(length=128), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=True),
        sa.Column("top3", sa.JSON(), nullable=True),
        sa.Column("top_confidence", sa.Float(), nullable=True),
        sa.Column("margin", sa.Float(), nullable=True),
        sa.Column("imported_at", sa.DateTime(), nullable=True),
        sa.Column("batch", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("imported_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_imported_line_batch"), ["batch"], unique=False)
        batch_op.create_index(batch_op.f("ix_imported_line_source"), ["source"], unique=False)

    op.create_table(
        "inbox_label",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("trainer", sa.String(length=64), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("intent", sa.String(length=32), nullable=True),
        sa.Column("decided", sa.Boolean(), nullable=True),
        sa.Column("labelled_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "trainer"),
    )
    with op.batch_alter_table("inbox_label", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_label_key"), ["key"], unique=False)

    with op.batch_alter_table("inbox_decision", schema=None) as batch_op:
        batch_op.alter_column(
            "key", existing_type=sa.VARCHAR(length=255), type_=sa.String(length=400), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("inbox_decision", schema=None) as batch_op:
        batch_op.alter_column(
            "key", existing_type=sa.String(length=400), type_=sa.VARCHAR(length=255), existing_nullable=False
        )

    with op.batch_alter_table("inbox_label", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_label_key"))

    op.drop_table("inbox_label")
    with op.batch_alter_table("imported_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imported_line_source"))
        batch_op.drop_index(batch_op.f("ix_imported_line_batch"))

    op.drop_table("imported_line")
