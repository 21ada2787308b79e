"""Pre-sale answers: authenticity, bargaining, product info, colour, size, payment, invoice."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import Events, ShopAction, ShopFormValidation, db, latest_text
from bot.policy_answers import join_list, policy_answer
from bot.shop.catalogue import ProductView, advise_size, all_products, find_product


async def mentioned_product(tracker: Tracker) -> ProductView | None:
    """The product named in this message, else the one the conversation is about."""
    mention = next(tracker.get_latest_entity_values("product"), None) or tracker.get_slot("product")
    if not mention:
        return None
    return await db(lambda s: find_product(s, mention))


class ActionAuthenticity(ShopAction):
    def name(self) -> str:
        return "action_authenticity"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        p = self.policy
        product = await mentioned_product(tracker)
        if product and product.credentials:
            dispatcher.utter_message(
                response="utter_authenticity_product",
                product=product.name,
                product_credentials=join_list(product.credentials),
                **policy_answer("utter_authenticity", p),
            )
        else:
            dispatcher.utter_message(response="utter_authenticity", **policy_answer("utter_authenticity", p))
        return []


# Price-drop questions get the price-protection policy, not a bargaining round.
_PRICE_DROP = re.compile(r"降价|补差|差价|价保|保价")


class ActionBargain(ShopAction):
    """Holds the line on price, conceding only what the policy allows, round by round."""

    def name(self) -> str:
        return "action_bargain"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        p = self.policy
        if _PRICE_DROP.search(latest_text(tracker)):
            dispatcher.utter_message(response="utter_price_protection", **policy_answer("utter_price_protection", p))
            return []
        rounds = int(tracker.get_slot("bargain_rounds") or 0) + 1
        if rounds == 1:
            response = "utter_bargain_value"
        elif rounds < p.gift_after_rounds:
            response = "utter_bargain_coupon"
        elif rounds == p.gift_after_rounds:
            response = "utter_bargain_gift"
        else:
            response = "utter_bargain_final"
        dispatcher.utter_message(response=response, **policy_answer(response, p))
        return [SlotSet("bargain_rounds", float(rounds))]


class ActionProductInfo(ShopAction):
    def name(self) -> str:
        return "action_product_info"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        product = await mentioned_product(tracker)
        if product is None:
            products = await db(all_products)
            dispatcher.utter_message(response="utter_product_list", products=join_list([p.name for p in products]))
            return []
        stock = "全部有现货，拍下就能发😊"
        if product.out_of_stock:
            stock = f"暂时缺货：{join_list(product.out_of_stock)}，其他都有现货"
        dispatcher.utter_message(
            response="utter_product_info",
            product=product.name,
            description=product.description,
            material=product.material,
            price=product.price_text,
            colors=join_list(product.colors),
            sizes=join_list(product.sizes),
            stock=stock,
            care=product.care,
        )
        return [SlotSet("product", product.name)]


class ActionColorDifference(ShopAction):
    """Honest about why colours differ; never talks a buyer out of a return."""

    def name(self) -> str:
        return "action_color_difference"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        p = self.policy
        if _is_presale_question(latest_text(tracker)):
            product = await mentioned_product(tracker)
            note = f"{product.name}有{join_list(product.colors)}可选，" if product else ""
            dispatcher.utter_message(
                response="utter_color_difference_presale", product_note=note, no_reason_days=p.no_reason_days
            )
            return []
        dispatcher.utter_message(response="utter_color_difference", cap_note=f"（最多报销{p.return_postage_cap}元）")
        return []


# "Is the colour like the photo?" is asked before buying; "it's different" after.
_PRESALE_COLOR = re.compile(r"(一样|一致|准|正|色差大不大|有色差吗|有没有色差|会不会|吗|嘛|么)[?？]?\s*$")
_COMPLAINT_COLOR = re.compile(r"收到|实物|到手|拿到|差太多|不一样|完全|太大了|严重|跟图|和图")


def _is_presale_question(text: str) -> bool:
    return bool(_PRESALE_COLOR.search(text)) and not _COMPLAINT_COLOR.search(text)


class ActionPaymentInfo(ShopAction):
    def name(self) -> str:
        return "action_payment_info"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        dispatcher.utter_message(response="utter_payment", **policy_answer("utter_payment", self.policy))
        return []


class ActionInvoiceInfo(ShopAction):
    def name(self) -> str:
        return "action_invoice_info"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        dispatcher.utter_message(response="utter_invoice", **policy_answer("utter_invoice", self.policy))
        return []


# --- size advice -------------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def parse_height_cm(text: str | None) -> int | None:
    """'165cm', '身高165', '1米65' -> 165."""
    if not text:
        return None
    metre = re.search(r"1米(\d{1,2})", text)
    if metre:
        rest = metre.group(1)
        return 100 + int(rest) * (10 if len(rest) == 1 else 1)
    match = _NUMBER.search(text)
    value = float(match.group()) if match else 0
    return int(value) if 130 <= value <= 220 else None


def parse_weight_jin(text: str | None) -> int | None:
    """'110斤' -> 110, '55kg'/'55公斤' -> 110 (jin, the unit buyers and charts use)."""
    if not text:
        return None
    match = _NUMBER.search(text)
    if not match:
        return None
    value = float(match.group())
    if re.search(r"kg|KG|公斤|千克", text):
        value *= 2
    return int(value) if 60 <= value <= 400 else None


def chart_text(product: ProductView) -> str:
    parts = []
    for row in product.size_chart:
        if "height" in row:
            parts.append(
                f"{row['size']}码 身高{row['height'][0]}-{row['height'][1]}cm/体重{row['weight'][0]}-{row['weight'][1]}斤"
            )
        elif "fits" in row:
            parts.append(f"{row['size']}：{row['fits']}")
    return "；".join(parts)


def is_apparel(product: ProductView) -> bool:
    return any("height" in row for row in product.size_chart)


class ValidateSizeForm(ShopFormValidation):
    """Asks for the product, then height and weight only if the product has a body chart."""

    def name(self) -> str:
        return "validate_size_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[str]:
        product = await mentioned_product(tracker)
        if product is not None and is_apparel(product):
            return ["product", "height", "weight"]
        return ["product"]

    async def validate_product(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        product = await db(lambda s: find_product(s, str(value)))
        return {"product": product.name if product else None}

    def validate_height(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        return {"height": value if parse_height_cm(str(value)) else None}

    def validate_weight(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        return {"weight": value if parse_weight_jin(str(value)) else None}


class ActionSizeAdvice(ShopAction):
    def name(self) -> str:
        return "action_size_advice"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        product = await mentioned_product(tracker)
        if product is None:
            dispatcher.utter_message(response="utter_ask_product")
            return []
        if not product.size_chart:
            dispatcher.utter_message(
                response="utter_size_one_size", product=product.name, sizes=join_list(product.sizes)
            )
            return []
        if not is_apparel(product):
            dispatcher.utter_message(response="utter_size_chart", product=product.name, chart=chart_text(product))
            return []
        height = parse_height_cm(tracker.get_slot("height"))
        weight = parse_weight_jin(tracker.get_slot("weight"))
        size = advise_size(product, height, weight)
        if size is None or height is None or weight is None:
            dispatcher.utter_message(response="utter_size_no_fit", product=product.name, chart=chart_text(product))
            return []
        dispatcher.utter_message(
            response="utter_size_advice",
            product=product.name,
            height=height,
            weight=weight,
            size=size,
            chart=f"（尺码表：{chart_text(product)}）",
        )
        return []
