"""Signed buyer tokens: the shop's own backend vouches for who the buyer is.

    payload = "<buyer_id>|<expires, Unix seconds>|<nonce>"          (UTF-8)
    token   = base64url(payload) + "." + base64url(HMAC-SHA256(SHOP_SECRET, payload))

base64url without "=" padding. docs/buyer-tokens.md describes the format for shops that
sign in another language. A forged, tampered, expired or over-long-lived token is refused
here; `redeem` then accepts each nonce once (the gateway stores it until the token
expires), so a token copied from a log or a URL cannot be replayed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.config import settings
from bot.models import UsedBuyerToken

DEFAULT_TTL_SECONDS = 10 * 60  # the widget asks for a fresh token on every (re)connect
MAX_TTL_SECONDS = 24 * 3600  # a token valid for longer is refused: nonces are kept until expiry
BUYER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class InvalidToken(ValueError):
    """The token is malformed, forged, tampered with, expired or already used."""


@dataclass(frozen=True)
class BuyerToken:
    buyer_id: str
    expires: int  # Unix seconds
    nonce: str


def shop_secret() -> bytes:
    """SHOP_SECRET from the environment, else a random one kept in var/secret."""
    if os.environ.get("SHOP_SECRET"):
        return os.environ["SHOP_SECRET"].encode()
    path = Path(settings().var_dir) / "secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_buyer(buyer_id: str, ttl_seconds: int = DEFAULT_TTL_SECONDS, secret: bytes | None = None) -> str:
    """A token for `buyer_id`, valid for `ttl_seconds` and for one connection."""
    if not BUYER_ID.fullmatch(buyer_id):
        raise ValueError(f"buyer id {buyer_id!r} must be 1-64 letters, digits, '_' or '-'")
    payload = f"{buyer_id}|{int(time.time()) + ttl_seconds}|{secrets.token_urlsafe(18)}".encode()
    mac = hmac.new(secret or shop_secret(), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def read_buyer_token(token: str, secret: bytes | None = None, now: float | None = None) -> BuyerToken:
    """The claims of a genuine, unexpired token; raises InvalidToken otherwise (does not check reuse)."""
    try:
        payload_part, mac_part = token.split(".", 1)
        payload, mac = _unb64(payload_part), _unb64(mac_part)
        expected = hmac.new(secret or shop_secret(), payload, hashlib.sha256).digest()
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidToken("malformed token") from exc
    if not hmac.compare_digest(mac, expected):
        raise InvalidToken("bad signature")
    try:
        buyer_id, expires_text, nonce = payload.decode().split("|")
        expires = int(expires_text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidToken("malformed payload (expected buyer_id|expires|nonce)") from exc
    if not BUYER_ID.fullmatch(buyer_id) or not NONCE.fullmatch(nonce):
        raise InvalidToken("malformed buyer id or nonce")
    now = time.time() if now is None else now
    if expires < now:
        raise InvalidToken("expired token")
    if expires > now + MAX_TTL_SECONDS:
        raise InvalidToken(f"token valid for more than {MAX_TTL_SECONDS} s")
    return BuyerToken(buyer_id, expires, nonce)


def verify_buyer(token: str, secret: bytes | None = None) -> str:
    """The buyer id in a genuine, unexpired token; raises InvalidToken otherwise."""
    return read_buyer_token(token, secret).buyer_id


def redeem(session: Session, claims: BuyerToken) -> None:
    """Accept the token's nonce once; raises InvalidToken for a token already used (a replay).

    The primary key on the nonce decides, so two gateway replicas racing on one token cannot
    both accept it. Nonces of expired tokens are dropped: those tokens are refused anyway.
    Run it in a session of its own: a replay rolls that session back.
    """
    utc_now = datetime.fromtimestamp(time.time(), timezone.utc).replace(tzinfo=None)
    session.execute(delete(UsedBuyerToken).where(UsedBuyerToken.expires_at < utc_now))
    expires_at = datetime.fromtimestamp(claims.expires, timezone.utc).replace(tzinfo=None)
    session.add(UsedBuyerToken(nonce=claims.nonce, buyer_id=claims.buyer_id, expires_at=expires_at))
    try:
        session.flush()
    except IntegrityError as exc:
        raise InvalidToken("token already used (replay)") from exc
