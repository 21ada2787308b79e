"""What every shop action shares: who the buyer is, the policy, the clock, and safety.

Actions stay thin: read the tracker, ask the shop layer (bot.shop.*) through
`run_in_session`, and phrase the answer with a response from domain.yml.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from sqlalchemy.orm import Session

from bot.db import run_in_session
from bot.policy import ShopPolicy, policy
from bot.privacy import contains_secret

logger = logging.getLogger(__name__)

T = TypeVar("T")
Events = list[dict[str, Any]]


def buyer_id(tracker: Tracker) -> str | None:
    """The buyer id the shop page vouched for (channel metadata), if any.

    Never taken from anything the buyer types: only from message metadata, which
    the chat gateway fills after checking the buyer's signed token.
    """
    slot = tracker.get_slot("buyer_id")
    if slot:
        return str(slot)
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    value = metadata.get("buyer_id")
    return str(value) if value else None


def latest_text(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def latest_intent(tracker: Tracker) -> str | None:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def now() -> datetime:
    """Shop-local wall-clock time, naive, as stored in the shop database."""
    return policy().now()


def warn_if_secret(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Buyers sometimes paste an SMS code or password: tell them never to share it (once)."""
    if contains_secret(latest_text(tracker)) and not _warned_since_buyer_spoke(tracker):
        dispatcher.utter_message(response="utter_warn_secret")


def _warned_since_buyer_spoke(tracker: Tracker) -> bool:
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "bot" and (event.get("metadata") or {}).get("utter_action") == "utter_warn_secret":
            return True
    return False


async def db(work: Callable[[Session], T]) -> T:
    """Run shop-layer work in its own session, off the event loop."""
    return await run_in_session(work)


class ShopFormValidation(FormValidationAction, ABC):
    """Base for form validators: the same safety warning, whatever the form asks next."""

    @abstractmethod
    def name(self) -> str:
        """validate_<form name>"""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        warn_if_secret(dispatcher, tracker)
        return await super().run(dispatcher, tracker, domain)


class ShopAction(Action, ABC):
    """Base for the shop's actions: safety warning first, kind error message on failure."""

    @property
    def policy(self) -> ShopPolicy:
        return policy()

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        warn_if_secret(dispatcher, tracker)
        try:
            return await self.answer(dispatcher, tracker, domain)
        except Exception:
            logger.exception("Action %s failed for conversation %s", self.name(), tracker.sender_id)
            dispatcher.utter_message(response="utter_error")
            return []

    @abstractmethod
    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        """Reply to the buyer and return the events to apply."""
