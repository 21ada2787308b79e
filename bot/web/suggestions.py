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
from bot.policy_answers import policy_answer

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


@functools.lru_cache(maxsize=1)
def _responses() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]


def _fill(template: str, values: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), template)


def suggested_replies() -> list[dict[str, str]]:
    return [
        {"title": title, "text": _fill(_responses()[name][0]["text"], policy_answer(name))}
        for name, title in SUGGESTED.items()
    ]
