"""Session start and the short replies that need no shop data."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import Events, ShopAction, buyer_id, db, latest_intent, latest_text
from bot.models import Buyer
from bot.policy import policy
from bot.shop import handoff


class ActionSessionStart(Action):
    """Starts a session knowing the shop, the buyer, and whether a person has the chat."""

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        metadata = tracker.get_slot("session_started_metadata") or {}
        events: Events = [SessionStarted(), SlotSet("shop_name", policy().shop_name)]
        if metadata.get("buyer_id"):
            events.append(SlotSet("buyer_id", str(metadata["buyer_id"])))
        # A new session must not end a handoff: the agent still has this buyer.
        if await db(lambda s: handoff.active_ticket(s, tracker.sender_id)):
            events.append(ConversationPaused())
        events.append(ActionExecuted("action_listen"))
        return events


SIMPLE_REPLIES = {
    "goodbye": "utter_goodbye",
    "thank": "utter_thank",
    "affirm": "utter_anything_else",
    "deny": "utter_deny_ack",
    "out_of_scope": "utter_out_of_scope",
}


class ActionReply(ShopAction):
    """Greetings, thanks, yes/no out of context, and questions the shop cannot answer."""

    def name(self) -> str:
        return "action_reply"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        intent = latest_intent(tracker)
        if not latest_text(tracker).strip():
            dispatcher.utter_message(response="utter_empty_message")
        elif intent == "greet":
            buyer = buyer_id(tracker)
            nickname = await db(lambda s: getattr(s.get(Buyer, buyer), "nickname", None)) if buyer else None
            if nickname:
                dispatcher.utter_message(response="utter_greet_buyer", nickname=nickname)
            else:
                dispatcher.utter_message(response="utter_greet")
        else:
            dispatcher.utter_message(response=SIMPLE_REPLIES.get(intent or "", "utter_out_of_scope"))
        return []
