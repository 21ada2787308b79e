"""Changing a placed order: new address, cancellation, or a note for the warehouse.

Only while the order has not shipped, and only after the buyer confirmed the change.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import Events, ShopAction, db, latest_intent, latest_text, now
from actions.order_identity import OrderFormValidation, form_clues, visible_order
from bot.models import Order
from bot.privacy import mask_address
from bot.shop import orders
from bot.shop.orders import UNSHIPPED, ChangeResult
from bot.vocabulary import ORDER_STATUS

_ADDRESS_WORDS = re.compile(r"地址|收货人|寄到|送到")
_CANCEL_WORDS = re.compile(r"取消|不要了|退掉")
# Intents that are questions of their own, not the answer the form asked for.
_NOT_AN_ANSWER = {"ask_authenticity", "bargain", "ask_shipping_time", "ask_payment", "ask_invoice",
                  "ask_product_info", "complain", "request_human", "deny", "greet", "thank", "goodbye"}  # fmt: skip


def change_type_from(text: str) -> str | None:
    """'address' or 'cancel' when the words say so; anything else is asked with buttons."""
    if _ADDRESS_WORDS.search(text):
        return "address"
    if _CANCEL_WORDS.search(text):
        return "cancel"
    return None


async def _order_status(order_id: str) -> str | None:
    def status(session: Any) -> str | None:
        order = session.get(Order, order_id)
        return order.status if order else None

    return await db(status)


class ValidateChangeOrderForm(OrderFormValidation):
    def name(self) -> str:
        return "validate_change_order_form"

    async def on_order_verified(self, tracker: Tracker) -> dict[str, Any]:
        if tracker.get_slot("change_type"):
            return {}
        for intent, text in form_clues(tracker, "change_order_form"):
            change = change_type_from(text) if intent == "change_order" else None
            if change:
                return {"change_type": change}
        return {}

    async def slots_after_order(self, tracker: Tracker) -> list[str]:
        if await _order_status(tracker.get_slot("order_id")) not in UNSHIPPED:
            return []  # too late to change: the submit action explains
        change = tracker.get_slot("change_type")
        detail = {"address": ["new_address"], "note": ["change_note"]}.get(change or "", [])
        return ["change_type", *detail, "change_confirmed"]

    def extract_change_type(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        if tracker.get_slot("change_type"):
            return {}
        change = change_type_from(latest_text(tracker)) if latest_intent(tracker) == "change_order" else None
        return {"change_type": change} if change else {}

    def _free_text_answer(self, tracker: Tracker, slot: str) -> str | None:
        if tracker.get_slot("requested_slot") != slot or latest_intent(tracker) in _NOT_AN_ANSWER:
            return None
        text = latest_text(tracker).strip()
        return text if text and not text.startswith("/") else None

    def extract_new_address(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        text = self._free_text_answer(tracker, "new_address")
        return {"new_address": text} if text else {}

    def validate_new_address(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        text = str(value or "").strip()
        # An address needs a place and some detail; "好的" is not one.
        return {"new_address": text[:255] if len(text) >= 6 else None}

    def extract_change_note(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        text = self._free_text_answer(tracker, "change_note")
        return {"change_note": text[:200]} if text else {}

    def extract_change_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        if tracker.get_slot("requested_slot") != "change_confirmed":
            return {}
        intent = latest_intent(tracker)
        if intent == "affirm":
            return {"change_confirmed": True}
        if intent == "deny":
            return {"change_confirmed": False}
        return {}


class ActionAskChangeConfirmed(ShopAction):
    """Repeats the change back to the buyer before doing anything."""

    def name(self) -> str:
        return "action_ask_change_confirmed"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        change = tracker.get_slot("change_type") or "note"
        dispatcher.utter_message(
            response=f"utter_ask_change_confirmed_{change}",
            order_id=tracker.get_slot("order_id"),
            address=mask_address(tracker.get_slot("new_address") or ""),
            note=tracker.get_slot("change_note"),
        )
        return []


class ActionSubmitChangeOrder(ShopAction):
    def name(self) -> str:
        return "action_submit_change_order"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        reset = [SlotSet(s, None) for s in ("change_type", "new_address", "change_note", "change_confirmed")]
        order_id = visible_order(dispatcher, tracker)
        if order_id is None:
            return reset
        status = await _order_status(order_id)
        if status not in UNSHIPPED:
            dispatcher.utter_message(response="utter_change_too_late", order_id=order_id, status=ORDER_STATUS[status])
            return reset
        if not tracker.get_slot("change_confirmed"):
            dispatcher.utter_message(response="utter_change_aborted")
            return reset
        change, at = tracker.get_slot("change_type"), now()
        if change == "address":
            address = tracker.get_slot("new_address")
            result = await db(lambda s: orders.change_address(s, order_id, address, at))
            done = ("utter_change_done_address", {"address": mask_address(address)})
        elif change == "cancel":
            result = await db(lambda s: orders.cancel_order(s, order_id, at))
            done = ("utter_change_done_cancel_refunded" if status == "paid" else "utter_change_done_cancel", {})
        else:
            note = tracker.get_slot("change_note")
            result = await db(lambda s: orders.add_note(s, order_id, note, at))
            done = ("utter_change_done_note", {"note": note})
        if result == ChangeResult.DONE:
            dispatcher.utter_message(response=done[0], order_id=order_id, **done[1])
        else:
            dispatcher.utter_message(response="utter_change_too_late", order_id=order_id, status=ORDER_STATUS[status])
        return reset
