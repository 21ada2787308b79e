"""How often an anonymous buyer may guess an order's phone digits, across all conversations.

A conversation allows 3 tries (actions.order_identity), but a new visitor id is a new
conversation, so that alone lets a stranger try all 10,000 endings in minutes. These limits
count wrong digits in the database instead: per order (whoever tries) and per client IP (the
address the chat gateway saw, passed in the message metadata), so every action-server replica
enforces the same lockout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.shop.lockout import Limit, minutes_until
from bot.shop.orders import Access, check_access

PER_ORDER = Limit("verify_order", failures=5, window=timedelta(hours=1))
# Wider than per order: several buyers behind one NAT may each mistype; a scanner tries many orders.
PER_CLIENT_IP = Limit("verify_ip", failures=10, window=timedelta(hours=1))

# What a locked-out buyer reads (sent by the action with the minutes filled in). Kept here, beside the
# rule, rather than in domain.yml: a new response there only reaches Rasa with a retrained model.
LOCKED_MESSAGE = (
    "亲，这个订单的手机号核对错误次数太多啦，为了保护买家的信息安全，核对功能已暂时锁定，"
    "请{minutes}分钟后再试哦～着急的话，您可以登录账号后再来咨询，或者回复“转人工”，客服会帮您处理～"
)


@dataclass(frozen=True)
class Verification:
    access: Access
    retry_in_minutes: int | None = None  # set when access is LOCKED

    @property
    def locked_message(self) -> str:
        return LOCKED_MESSAGE.format(minutes=self.retry_in_minutes or 60)


def _limits(order_id: str, client_ip: str | None) -> list[tuple[Limit, str]]:
    return [(PER_ORDER, order_id)] + ([(PER_CLIENT_IP, client_ip)] if client_ip else [])


def lockout(session: Session, order_id: str, client_ip: str | None, now: datetime) -> Verification | None:
    """A LOCKED verification if this order or this client may not try now, else None."""
    until = [t for limit, subject in _limits(order_id, client_ip) if (t := limit.locked_until(session, subject, now))]
    return Verification(Access.LOCKED, minutes_until(max(until), now)) if until else None


def check_phone(
    session: Session, order_id: str | None, phone_last4: str, client_ip: str | None, now: datetime
) -> Verification:
    """Check an anonymous buyer's last 4 phone digits for an order, counting wrong ones.

    While locked even the right digits are refused: otherwise the lockout would only slow
    the guessing down. The try that reaches the limit is answered LOCKED at once.
    """
    if not order_id:
        return Verification(check_access(session, order_id, None, phone_last4))
    if locked := lockout(session, order_id, client_ip, now):
        return locked
    access = check_access(session, order_id, None, phone_last4)
    if access != Access.PHONE_MISMATCH:
        return Verification(access)
    for limit, subject in _limits(order_id, client_ip):
        limit.record_failure(session, subject, now)
    session.flush()
    return lockout(session, order_id, client_ip, now) or Verification(access)
