"""Alembic's entry point: migrate the connection `bot.migrations` hands over, comparing against the shop's models."""

from __future__ import annotations

from alembic import context

from bot.migrations import configure_context

configure_context(context, context.config.attributes["connection"])
with context.begin_transaction():
    context.run_migrations()
