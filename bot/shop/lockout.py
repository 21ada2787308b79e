"""Failure counters with a lockout, kept in the shop database so every replica sees the same count.

A `Limit` allows `failures` failed tries per subject within a sliding `window`; the next try
is refused until the oldest failure in the window has aged out. Used for order verification
(bot.shop.verification) and for agents' and trainers' logins (bot.web.accounts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.models import FailedAttempt


@dataclass(frozen=True)
class Limit:
    scope: str  # what is being guessed, e.g. "verify_order"
    failures: int  # failed tries allowed within `window`
    window: timedelta

    def locked_until(self, session: Session, subject: str, now: datetime) -> datetime | None:
        """When `subject` may try again, or None if it may try now."""
        since = now - self.window
        where = (FailedAttempt.scope == self.scope, FailedAttempt.subject == subject[:128], FailedAttempt.at > since)
        count = session.scalar(select(func.count()).select_from(FailedAttempt).where(*where)) or 0
        if count < self.failures:
            return None
        # Sliding window: free again once enough of the failures are older than the window.
        times = session.scalars(select(FailedAttempt.at).where(*where).order_by(FailedAttempt.at.desc())).all()
        return times[self.failures - 1] + self.window

    def record_failure(self, session: Session, subject: str, now: datetime) -> None:
        # Old rows are removed as new ones come, so the table only ever holds one window's worth.
        session.execute(delete(FailedAttempt).where(FailedAttempt.scope == self.scope, FailedAttempt.at <= now - self.window))  # fmt: skip
        session.add(FailedAttempt(scope=self.scope, subject=subject[:128], at=now))

    def clear(self, session: Session, subject: str) -> None:
        """Forget `subject`'s failures (a correct password ends the count for that account)."""
        session.execute(delete(FailedAttempt).where(FailedAttempt.scope == self.scope, FailedAttempt.subject == subject[:128]))  # fmt: skip


def minutes_until(moment: datetime, now: datetime) -> int:
    """Whole minutes until `moment`, at least 1 (what a person is told to wait)."""
    return max(1, math.ceil((moment - now).total_seconds() / 60))
