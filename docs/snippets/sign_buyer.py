"""Sign a buyer token for the chat gateway (docs/buyer-tokens.md). Python 3, standard library only.

SHOP_SECRET=... python sign_buyer.py b0001      prints one token, valid 10 minutes, for one connection
"""

import base64
import hashlib
import hmac
import os
import secrets
import sys
import time


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_buyer(buyer_id: str, secret: bytes, ttl_seconds: int = 600) -> str:
    nonce = secrets.token_urlsafe(18)  # 24 characters of A-Z a-z 0-9 - _
    payload = f"{buyer_id}|{int(time.time()) + ttl_seconds}|{nonce}".encode()
    mac = hmac.new(secret, payload, hashlib.sha256).digest()
    return b64url(payload) + "." + b64url(mac)


if __name__ == "__main__":
    print(sign_buyer(sys.argv[1], os.environ["SHOP_SECRET"].encode("utf-8")))
