"""security: failed attempts (lockouts) and used buyer-token nonces

failed_attempt counts failed order verifications (per order and per client IP) and failed logins
(per account and per IP) in the database, so every replica enforces the same lockout.
used_buyer_token keeps the nonce of each accepted buyer token until it expires, so a token is
accepted once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "failed_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=True),
        sa.Column("subject", sa.String(length=128), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("failed_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_failed_attempt_at"), ["at"], unique=False)
        batch_op.create_index("ix_failed_attempt_scope_subject_at", ["scope", "subject", "at"], unique=False)

    op.create_table(
        "used_buyer_token",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("buyer_id", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("nonce"),
    )
    with op.batch_alter_table("used_buyer_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_used_buyer_token_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("used_buyer_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_used_buyer_token_expires_at"))
    op.drop_table("used_buyer_token")
    with op.batch_alter_table("failed_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_failed_attempt_scope_subject_at")
        batch_op.drop_index(batch_op.f("ix_failed_attempt_at"))
    op.drop_table("failed_attempt")
