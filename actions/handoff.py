"""Handing a conversation to a human agent, and the fallbacks that lead there.

A handoff opens a ticket carrying everything an agent needs (reason, buyer, order,
what the bot understood, the recent transcript), tells the buyer where they stand,
and pauses the conversation: Rasa then records the buyer's messages without
answering until the ticket is resolved and the conversation resumed
(`python -m bot handoff resolve`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import Events, ShopAction, buyer_id, db, latest_intent, latest_text, now, warn_if_secret
from actions.side_questions import answer_postage_question
from bot.policy import policy
from bot.shop import handoff
from bot.vocabulary import INTENT_LABEL

TRANSCRIPT_TURNS = 30
_REASON_BY_INTENT = {"complain": "complaint", "request_human": "requested"}


def handoff_context(tracker: Tracker) -> dict[str, Any]:
    """What the agent sees first: intents and entities understood, slots, transcript."""
    transcript, understood = [], []
    for event in tracker.events:
        kind = event.get("event")
        if kind == "user":
            parse = event.get("parse_data") or {}
            intent = parse.get("intent") or {}
            transcript.append({"from": "buyer", "text": event.get("text") or "", "at": event.get("timestamp")})
            understood.append(
                {
                    "text": event.get("text") or "",
                    "intent": intent.get("name"),
                    "confidence": round(float(intent.get("confidence") or 0), 3),
                    "entities": [
                        {"entity": e.get("entity"), "value": e.get("value")} for e in parse.get("entities") or []
                    ],
                }
            )
        elif kind == "bot":
            transcript.append({"from": "bot", "text": event.get("text") or "", "at": event.get("timestamp")})
    slots = {
        k: v
        for k, v in tracker.current_slot_values().items()
        if v not in (None, [], 0, 0.0) and k not in ("phone_last4", "session_started_metadata")
    }
    return {
        "understood": understood[-TRANSCRIPT_TURNS:],
        "slots": slots,
        "transcript": transcript[-TRANSCRIPT_TURNS:],
    }


async def hand_off(
    dispatcher: CollectingDispatcher, tracker: Tracker, reason: str, order_id: str | None = None
) -> Events:
    """Open (or find) the ticket, tell the buyer, and pause the conversation."""
    context = handoff_context(tracker)
    buyer = buyer_id(tracker)
    order = order_id or tracker.get_slot("order_id")
    at = now()

    def open_and_place(session: Any) -> tuple[handoff.TicketView, bool, int]:
        ticket, created = handoff.open_ticket(session, tracker.sender_id, reason, buyer, order, context, at)
        return ticket, created, handoff.queue_position(session, ticket.id)

    ticket, created, position = await db(open_and_place)
    p = policy()
    if not created:
        dispatcher.utter_message(response="utter_handoff_already")
    elif p.agents_working(datetime.now(p.timezone)):
        wait = max(position, 1) * p.minutes_per_ticket
        if position <= 1:  # nobody ahead ("0 people ahead of you" reads like a glitch)
            dispatcher.utter_message(response="utter_handoff_next", wait=wait)
        else:
            dispatcher.utter_message(response="utter_handoff_queued", position=position - 1, wait=wait)
    else:
        start, end = p.agent_hours
        dispatcher.utter_message(response="utter_handoff_after_hours", start=start, end=end)
    return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("handoff_reason", reason), ConversationPaused()]


class ActionHandoff(ShopAction):
    def name(self) -> str:
        return "action_handoff"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        reason = _REASON_BY_INTENT.get(latest_intent(tracker) or "", "requested")
        return await hand_off(dispatcher, tracker, reason)


class ActionDefaultFallback(ShopAction):
    """Reached after the two-stage fallback failed twice, or when a form could not use a message.

    A form that cannot use what the buyer said (a side question, "why?", the same
    request again) is not a misunderstanding worth a person yet: the side question is
    answered when we can, and the form asks again. Twice in a row, a person takes over.
    """

    def name(self) -> str:
        return "action_default_fallback"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        form = (tracker.active_loop or {}).get("name")
        if form in SHOP_FORMS and not _fell_back_last_turn(tracker):
            if not answer_postage_question(dispatcher, latest_text(tracker)):
                dispatcher.utter_message(response="utter_form_keep_going")
            return [FollowupAction(form)]
        return await hand_off(dispatcher, tracker, "misunderstood")


SHOP_FORMS = ("track_order_form", "after_sale_form", "change_order_form", "size_form")


def _fell_back_last_turn(tracker: Tracker) -> bool:
    """Whether the buyer's previous message also ended in this fallback."""
    users = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            users += 1
            if users == 2:
                return False
        elif users == 1 and event.get("event") == "action" and event.get("name") == "action_default_fallback":
            return True
    return False


class ActionDefaultAskAffirmation(Action):
    """ "Did you mean …?" with the likeliest intents as buttons, and "none of these"."""

    def name(self) -> str:
        return "action_default_ask_affirmation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        warn_if_secret(dispatcher, tracker)
        ranking = (tracker.latest_message or {}).get("intent_ranking") or []
        buttons = [
            {"title": INTENT_LABEL[r["name"]], "payload": f"/{r['name']}"}
            for r in ranking
            if r.get("name") in INTENT_LABEL
        ][:3]
        buttons.append({"title": "都不是", "payload": "/out_of_scope"})
        dispatcher.utter_message(response="utter_did_you_mean", buttons=buttons)
        return []
