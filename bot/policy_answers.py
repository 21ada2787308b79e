"""The shop policy as the values of the answers that quote it.

The bot's actions and the agents' suggested replies fill the same domain.yml
responses from here, so both quote the same numbers in the same words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.policy import ShopPolicy, policy


def join_list(items: list[str] | tuple[str, ...]) -> str:
    """A Chinese enumeration: 甲、乙、丙."""
    return "、".join(items)


def _bargaining(p: ShopPolicy) -> dict[str, Any]:
    return {
        "free_shipping": p.free_shipping_threshold, "coupon_threshold": p.coupon_threshold,
        "coupon_amount": p.coupon_amount, "gift": p.gift, "price_protection_days": p.price_protection_days,
    }  # fmt: skip


def _returns(p: ShopPolicy) -> dict[str, Any]:
    return {"review_hours": p.review_hours, "return_address": p.return_address, "refund_days": p.refund_days_after_receipt}  # fmt: skip


_ANSWERS: dict[str, Callable[[ShopPolicy], dict[str, Any]]] = {
    "utter_authenticity": lambda p: {"credentials": join_list(p.credentials), "compensation": p.compensation},
    "utter_shipping_policy": lambda p: {
        "hours_to_ship": p.hours_to_ship,
        "cutoff": p.same_day_cutoff,
        "couriers": "或".join(p.default_couriers),
        "days_jzh": p.delivery_days("江浙沪"),
        "days_other": p.delivery_days("其他省份"),
        "days_remote": p.delivery_days("偏远地区"),
    },  # fmt: skip
    "utter_bargain_value": _bargaining,
    "utter_bargain_coupon": _bargaining,
    "utter_bargain_gift": _bargaining,
    "utter_bargain_final": _bargaining,
    "utter_price_protection": lambda p: {"price_protection_days": p.price_protection_days},
    "utter_after_sale_step_refund_only": _returns,
    "utter_after_sale_step_return_refund": _returns,
    "utter_after_sale_step_exchange": _returns,
    "utter_after_sale_step_reissue": _returns,
    "utter_after_sale_postage_seller": lambda p: {"cap": p.return_postage_cap},
    "utter_return_postage": lambda p: {
        "cap": p.return_postage_cap,
        "insurance_note": "，下单时买了运费险可以直接抵扣" if p.freight_insurance else "",
    },
    "utter_invoice": lambda p: {
        "types": join_list(p.invoice_types),
        "days": p.invoice_days,
        "special": p.invoice_special_needs,
    },  # fmt: skip
    "utter_payment": lambda p: {
        "methods": join_list(p.payment_methods),
        "installments": p.installments,
        "cod": "也支持货到付款。" if p.cash_on_delivery else "暂不支持货到付款。",
    },  # fmt: skip
}


def policy_answer(response: str, shop_policy: ShopPolicy | None = None) -> dict[str, Any]:
    """The policy values `response` quotes (empty for a response that quotes none)."""
    answer = _ANSWERS.get(response)
    return answer(shop_policy or policy()) if answer else {}
