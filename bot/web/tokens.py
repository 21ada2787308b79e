"""Signed buyer tokens: the shop page vouches for who the buyer is.

token = base64url(buyer_id|expires) + "." + base64url(HMAC-SHA256(secret, payload))
A forged, tampered or expired token is refused; the buyer id inside a valid one is
the only identity the gateway passes to Rasa.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from bot.config import settings


class InvalidToken(ValueError):
    """The token is malformed, forged, tampered with or expired."""


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


def sign_buyer(buyer_id: str, ttl_seconds: int = 7 * 24 * 3600, secret: bytes | None = None) -> str:
    payload = f"{buyer_id}|{int(time.time()) + ttl_seconds}".encode()
    mac = hmac.new(secret or shop_secret(), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def verify_buyer(token: str, secret: bytes | None = None) -> str:
    """The buyer id in a valid token; raises InvalidToken otherwise."""
    try:
        payload_part, mac_part = token.split(".", 1)
        payload, mac = _unb64(payload_part), _unb64(mac_part)
        buyer_id, expires = payload.decode().rsplit("|", 1)
        expected = hmac.new(secret or shop_secret(), payload, hashlib.sha256).digest()
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidToken("malformed token") from exc
    if not hmac.compare_digest(mac, expected):
        raise InvalidToken("bad signature")
    if int(expires) < time.time():
        raise InvalidToken("expired token")
    return buyer_id
