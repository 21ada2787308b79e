"""Rasa's REST channel, answering every request in a message: `是正品吗？能包邮不` gets both answers.

Registered in credentials.yml in place of `rest`, with the same URL
(/webhooks/rest/webhook) and the same request and reply format, so the gateway,
`./shop shell` and the benchmark all get it.

Why here and not in the gateway: `./shop shell` and the benchmark talk to Rasa
directly and would not get it from the gateway; and here the clauses are parsed by
the agent already loaded in this process, while the gateway would pay an HTTP
/model/parse round trip per clause (13 ms median each, measured on this 2-core
machine while another model was training). Cost, same conditions: a one-request
message 32 ms, 是正品吗？能包邮不 (three parses, two turns) 99 ms; a message with
no clause boundary is parsed only once, as before.

How: `bot.dialogue.clauses` splits the text and, from the NLU parses of the whole
message and of each clause (`parse_message` has no side effects), plans the turns.
Each planned turn is then handled as a buyer message of its own, one after the
other within this request, so Rasa's per-conversation lock is taken per turn
exactly as for consecutive messages and the replies come back in order. A form in
progress sees each turn as it would see separate messages: a clause that answers
its slot fills it, a side question is answered by its digression rule and the
form asks again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, Sanic

from bot.dialogue.clauses import DETAIL_INTENTS, Turn, plan, split_clauses

logger = logging.getLogger(__name__)


class ClauseRestInput(RestInput):
    """The REST channel; a message with several requests is handled as consecutive messages."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def handle(message: UserMessage) -> None:
            turns = await planned_turns(Sanic.get_app().ctx.agent, message.text or "", message.sender_id)
            if len(turns) == 1 and turns[0].text == message.text:
                await on_new_message(message)
                return
            logger.info("Conversation %s: %d turns from %r", message.sender_id, len(turns), message.text)
            for turn in turns:
                await on_new_message(
                    UserMessage(
                        turn.text, message.output_channel, message.sender_id,
                        input_channel=message.input_channel, metadata=message.metadata,
                    )
                )  # fmt: skip

        return super().blueprint(handle)


# Slots whose answer is free text (an address, a note): such an answer is never split.
FREE_TEXT_SLOTS = ("new_address", "change_note")


async def planned_turns(agent: Any, text: str, sender_id: str | None = None) -> list[Turn]:
    """The turns `text` becomes, from the loaded model's parses of the message and its clauses.

    The conversation's form state (read, not changed) says how to split: a form asking
    for free text gets the message whole, one asking for an order number takes an
    order-number clause as its answer.
    """
    if agent is None or not agent.is_ready():
        return [Turn(text, None, 0.0)]
    tracker = await agent.tracker_store.retrieve(sender_id) if sender_id else None
    in_form = bool(tracker and tracker.active_loop_name)
    asked = tracker.get_slot("requested_slot") if in_form else None
    clauses = split_clauses(text, in_form=in_form) if asked not in FREE_TEXT_SLOTS else []
    if len(clauses) < 2:
        return [Turn(text, None, 0.0)]
    whole = await agent.parse_message(text)
    parses = [(clause, await agent.parse_message(clause.text)) for clause in clauses]
    return plan(text, whole, parses, details=frozenset() if asked == "order_id" else DETAIL_INTENTS)
