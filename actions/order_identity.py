"""Which order is the buyer talking about, and may they see it?

Shared by every form that works on an order. A buyer the shop page vouched for
(buyer id in metadata) sees only their own orders; an anonymous buyer must give
the last 4 digits of the order's phone number first. Someone else's order number
gets the same answer as a number that does not exist.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import Events, ShopAction, ShopFormValidation, buyer_id, db, latest_intent, latest_text, now
from bot.policy import policy
from bot.shop import verification
from bot.shop.orders import ORDER_ID_LIKE, Access, check_access, recent_orders

MAX_VERIFY_ATTEMPTS = 3
# verify_attempts after a database lockout (bot.shop.verification): past any real count, so the
# submit action knows the buyer has already been told and says nothing more.
LOCKED_OUT = 99.0
_LAST4 = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{5}(\d{4})(?!\d)")


def verified_orders(tracker: Tracker) -> list[str]:
    return list(tracker.get_slot("verified_orders") or [])


def may_see(tracker: Tracker, order_id: str | None) -> bool:
    """Whether this conversation has already shown it may see `order_id`."""
    return bool(order_id) and order_id in verified_orders(tracker)


def form_clues(tracker: Tracker, form: str) -> list[tuple[str | None, str]]:
    """(intent, text) of this message, then of the message that started `form`.

    What the buyer said before we knew the order ("the duvet cover I got is pilling")
    still tells the form what it needs once the order is known.
    """
    clues = [(latest_intent(tracker), latest_text(tracker))]
    started = False
    for event in reversed(tracker.events):
        if event.get("event") == "active_loop" and event.get("name") == form:
            started = True
        elif started and event.get("event") == "user":
            clues.append(((event.get("parse_data") or {}).get("intent", {}).get("name"), event.get("text") or ""))
            break
    return clues


def verification_failed(tracker: Tracker) -> bool:
    return int(tracker.get_slot("verify_attempts") or 0) >= MAX_VERIFY_ATTEMPTS


def client_ip(tracker: Tracker) -> str | None:
    """The buyer's address as the chat gateway saw it (message metadata), for the per-IP lockout."""
    value = ((tracker.latest_message or {}).get("metadata") or {}).get("client_ip")
    return str(value) if value else None


def _locked_out(dispatcher: CollectingDispatcher, locked: verification.Verification) -> dict[str, Any]:
    """Tell the buyer verification is locked for a while, and end the form without showing anything."""
    dispatcher.utter_message(text=locked.locked_message)
    return {"phone_last4": None, "order_id": None, "verify_attempts": LOCKED_OUT}


def visible_order(dispatcher: CollectingDispatcher, tracker: Tracker) -> str | None:
    """The order a submit action may act on, or None (and the buyer is told why if a
    lock-out after repeated wrong phone digits is the reason; the form said the rest)."""
    order_id = tracker.get_slot("order_id")
    if may_see(tracker, order_id):
        return order_id
    if verification_failed(tracker) and float(tracker.get_slot("verify_attempts") or 0) < LOCKED_OUT:
        dispatcher.utter_message(response="utter_verify_failed")
    return None


class OrderFormValidation(ShopFormValidation):
    """Validation for forms that start by identifying an order.

    Subclasses list what they need once the order is known in `slots_after_order`.
    """

    async def slots_after_order(self, tracker: Tracker) -> list[str]:
        return []

    async def on_order_verified(self, tracker: Tracker) -> dict[str, Any]:
        """Slots the form can fill as soon as the order is known (default: none)."""
        return {}

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[str]:
        order_id = tracker.get_slot("order_id")
        if verification_failed(tracker):
            return []
        if not order_id:
            return ["order_id"]
        if not may_see(tracker, order_id):
            return ["order_id", "phone_last4"] if not buyer_id(tracker) else ["order_id"]
        return ["order_id", *await self.slots_after_order(tracker)]

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> Events:
        events = await super().get_validation_events(dispatcher, tracker, domain)
        # An order number remembered from an earlier turn was never checked: check it now.
        order_id = tracker.get_slot("order_id")
        validated = {e.get("name") for e in events}
        if order_id and "order_id" not in validated and not may_see(tracker, order_id):
            events += self._apply(tracker, await self.validate_order_id(order_id, dispatcher, tracker, domain))
        if any(e.get("name") == "verified_orders" for e in events) and may_see(tracker, tracker.get_slot("order_id")):
            events += self._apply(tracker, await self.on_order_verified(tracker))
        return events

    @staticmethod
    def _apply(tracker: Tracker, values: dict[str, Any]) -> Events:
        changed = {k: v for k, v in values.items() if tracker.get_slot(k) != v}
        tracker.slots.update(changed)
        return [SlotSet(k, v) for k, v in changed.items()]

    async def validate_order_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        order_id = str(value or "").strip()
        if may_see(tracker, order_id):
            return {"order_id": order_id}
        access = await db(lambda s: check_access(s, order_id, buyer_id(tracker), None))
        if access == Access.OK:
            return {"order_id": order_id, "verified_orders": [*verified_orders(tracker), order_id]}
        if access == Access.NEED_PHONE:
            # Locked already (other conversations guessed): say so now rather than ask for digits in vain.
            if locked := await db(lambda s: verification.lockout(s, order_id, client_ip(tracker), now())):
                return _locked_out(dispatcher, locked)
            return {"order_id": order_id, "phone_last4": None}
        response = "utter_order_id_malformed" if access == Access.MALFORMED else "utter_order_not_found"
        dispatcher.utter_message(response=response)
        return {"order_id": None}

    def extract_order_id(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        """A number that is not one of our order numbers (the order_id entity only matches those) still reaches
        validate_order_id, so the buyer hears what is wrong with it instead of the form giving up on them."""
        if tracker.get_slot("requested_slot") != "order_id" or tracker.get_slot("order_id"):
            return {}
        match = ORDER_ID_LIKE.search(latest_text(tracker))
        return {"order_id": match.group(0)} if match else {}

    def extract_phone_last4(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        if tracker.get_slot("requested_slot") != "phone_last4":
            return {}
        text = latest_text(tracker)
        match = _PHONE.search(text) or _LAST4.search(text)
        return {"phone_last4": match.group(1)} if match else {}

    async def validate_phone_last4(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        order_id = tracker.get_slot("order_id")
        checked = await db(lambda s: verification.check_phone(s, order_id, str(value), client_ip(tracker), now()))
        if checked.access == Access.LOCKED:
            return _locked_out(dispatcher, checked)
        access = checked.access
        if access == Access.OK:
            return {"phone_last4": None, "verified_orders": [*verified_orders(tracker), order_id]}
        attempts = int(tracker.get_slot("verify_attempts") or 0) + 1
        if attempts >= MAX_VERIFY_ATTEMPTS:
            # The submit action tells the buyer (visible_order), so nothing is said twice.
            return {"phone_last4": None, "order_id": None, "verify_attempts": float(attempts)}
        dispatcher.utter_message(response="utter_phone_mismatch")
        return {"phone_last4": None, "verify_attempts": float(attempts)}


class ActionAskOrderId(ShopAction):
    """Asks which order: the buyer's recent orders as buttons when we know the buyer."""

    def name(self) -> str:
        return "action_ask_order_id"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        buyer = buyer_id(tracker)
        orders = await db(lambda s: recent_orders(s, buyer, policy(), now())) if buyer else []
        if not orders:
            if ORDER_ID_LIKE.search(latest_text(tracker)):
                dispatcher.utter_message(response="utter_order_id_malformed")
            else:
                dispatcher.utter_message(response="utter_ask_order_id")
            return []
        buttons = [
            {
                "title": f"{o.items[0] if o.items else o.id}｜{o.status_label}｜{o.created_at:%m-%d}",
                "payload": f'/inform_order_id{{"order_id":"{o.id}"}}',
            }
            for o in orders
        ]
        dispatcher.utter_message(response="utter_ask_which_order", buttons=buttons)
        return []
