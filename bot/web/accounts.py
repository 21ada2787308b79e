"""Agent and trainer accounts (created from the CLI) and their expiring sessions.

The two roles sign in the same way but live in separate tables with separate
cookies, so an agent's session never opens the trainers' console and vice versa.
Failed logins are counted in the database per account and per client IP, so every
gateway replica refuses a password-guesser alike.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from bot.models import AgentAccount, AgentSession, TrainerAccount, TrainerSession
from bot.shop.lockout import Limit

SESSION_HOURS = 12
LOGIN_PER_ACCOUNT = Limit("login_account", failures=5, window=timedelta(minutes=15))
# An office signs in from one address: room for a few colleagues' typos, not for guessing.
LOGIN_PER_IP = Limit("login_ip", failures=10, window=timedelta(minutes=15))
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True)
class Role:
    name: str
    account: type[AgentAccount] | type[TrainerAccount]
    session: type[AgentSession] | type[TrainerSession]
    cookie: str


AGENT = Role("agent", AgentAccount, AgentSession, "agent_session")
TRAINER = Role("trainer", TrainerAccount, TrainerSession, "trainer_session")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, salt, digest = stored.split("$")
    except ValueError:
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(candidate.hex(), digest)


def create_account(
    session: Session, role: Role, username: str, display_name: str, password: str, now: datetime
) -> None:
    if len(password) < 8:
        raise ValueError("the password needs at least 8 characters")
    if session.get(role.account, username):
        raise ValueError(f"{role.name} '{username}' already exists")
    session.add(role.account(username=username, display_name=display_name, password_hash=hash_password(password), created_at=now))  # fmt: skip


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def log_in(session: Session, role: Role, username: str, password: str, now: datetime) -> str | None:
    """A new session token, or None for a wrong name or password."""
    account = session.get(role.account, username)
    if account is None or not check_password(password, account.password_hash):
        return None
    session.execute(delete(role.session).where(role.session.expires_at < now))
    token = secrets.token_urlsafe(32)
    session.add(role.session(token_hash=_token_hash(token), username=username, expires_at=now + timedelta(hours=SESSION_HOURS)))  # fmt: skip
    return token


def signed_in(session: Session, role: Role, token: str | None, now: datetime) -> str | None:
    """The signed-in user for a session token, if it is valid and not expired."""
    if not token:
        return None
    row = session.get(role.session, _token_hash(token))
    return row.username if row and row.expires_at > now else None


def log_out(session: Session, role: Role, token: str) -> None:
    session.execute(delete(role.session).where(role.session.token_hash == _token_hash(token)))


@dataclass(frozen=True)
class LoginAttempt:
    token: str | None  # a new session token when the name and password are right
    locked_until: datetime | None = None  # set when too many failures refused the try unchecked


def log_in_throttled(
    session: Session, role: Role, username: str, password: str, ip: str, now: datetime
) -> LoginAttempt:
    """`log_in`, refused without checking the password while the account or the IP is locked out.

    Unknown names count like wrong passwords, so the answer never tells which names exist.
    """
    account_key = f"{role.name}:{username}"
    locks = [LOGIN_PER_ACCOUNT.locked_until(session, account_key, now), LOGIN_PER_IP.locked_until(session, ip, now)]
    if until := max((t for t in locks if t), default=None):
        return LoginAttempt(None, until)
    token = log_in(session, role, username, password, now)
    if token:
        LOGIN_PER_ACCOUNT.clear(session, account_key)
        return LoginAttempt(token)
    LOGIN_PER_ACCOUNT.record_failure(session, account_key, now)
    LOGIN_PER_IP.record_failure(session, ip, now)
    return LoginAttempt(None)
