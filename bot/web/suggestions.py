"""Suggested replies for agents: the bot's own policy answers, with the numbers filled in.

Drawn from domain.yml (where every buyer-facing sentence lives) and shop_policy.yml,
so an agent quotes exactly what the bot would; they can edit before sending.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import yaml

from bot.config import PROJECT_ROOT
from bot.policy import policy

# Response name -> the title agents see in the console.
SUGGESTED = {
    "utter_authenticity": "正品保障",
    "utter_shipping_policy": "发货时效",
    "utter_bargain_coupon": "优惠说明",
    "utter_price_protection": "价保",
    "utter_after_sale_step_return_refund": "退货流程",
    "utter_after_sale_postage_seller": "运费由店铺承担",
    "utter_invoice": "开发票",
    "utter_payment": "付款方式",
}


def _values() -> dict[str, Any]:
    p = policy()
    return {
        "credentials": "、".join(p.credentials), "compensation": p.compensation,
        "hours_to_ship": p.hours_to_ship, "cutoff": p.same_day_cutoff, "couriers": "或".join(p.default_couriers),
        "days_jzh": p.delivery_days("江浙沪"), "days_other": p.delivery_days("其他省份"),
        "days_remote": p.delivery_days("偏远地区"), "coupon_threshold": p.coupon_threshold,
        "coupon_amount": p.coupon_amount, "free_shipping": p.free_shipping_threshold,
        "price_protection_days": p.price_protection_days, "review_hours": p.review_hours,
        "return_address": p.return_address, "refund_days": p.refund_days_after_receipt,
        "cap": p.return_postage_cap, "types": "、".join(p.invoice_types), "days": p.invoice_days,
        "special": p.invoice_special_needs, "methods": "、".join(p.payment_methods),
        "installments": p.installments, "cod": "" if p.cash_on_delivery else "暂不支持货到付款。",
    }  # fmt: skip


@functools.lru_cache(maxsize=1)
def _responses() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]


def suggested_replies() -> list[dict[str, str]]:
    values = _values()
    replies = []
    for name, title in SUGGESTED.items():
        template = _responses()[name][0]["text"]
        text = re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), template)
        replies.append({"title": title, "text": text})
    return replies
