"""Masking of personal data in replies, and detection of secrets buyers must not send."""

from __future__ import annotations

import re

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
# A verification code, password or payment PIN being shared: a keyword near a code.
_SECRET = re.compile(
    r"(验证码|校验码|动态码|密码|支付码|付款码|口令|pin|PIN|cvv|CVV|安全码)"
    r"[^\d]{0,8}(\d{4,8}|[A-Za-z0-9]{6,20})"
)


def mask_phone(phone: str) -> str:
    """13812345678 -> 138****5678."""
    return _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", phone)


def mask_address(address: str) -> str:
    """Keep the province/city part, hide the street and house number."""
    for marker in ("区", "县", "市"):
        cut = address.find(marker)
        if 0 <= cut < len(address) - 1:
            return address[: cut + 1] + "****"
    return address[: max(2, len(address) // 3)] + "****"


def contains_secret(text: str) -> bool:
    """Whether a message shares a verification code, password or payment code."""
    return bool(_SECRET.search(text or ""))
