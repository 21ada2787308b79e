"""The few calls the shop makes to Rasa's HTTP API (enabled with --enable-api)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from bot.config import settings


class RasaUnavailable(RuntimeError):
    """Rasa did not answer: the conversation state was not changed there."""


def _post(conversation_id: str, path: str, body: Any) -> Any:
    rasa = settings().rasa_for(conversation_id)  # the server holding this conversation's lock and session
    try:
        response = requests.post(f"{rasa}{path}", json=body, timeout=30)
    except requests.RequestException as exc:
        raise RasaUnavailable(f"Rasa at {rasa} did not answer: {exc}") from exc
    if response.status_code >= 400:
        raise RasaUnavailable(f"Rasa refused {path}: HTTP {response.status_code} {response.text[:200]}")
    return response.json()


def hand_back(conversation_id: str) -> list[dict[str, Any]]:
    """Resume a paused conversation and let the bot greet the buyer again.

    Returns the bot's messages, for the caller to deliver to the buyer.
    """
    path = f"/conversations/{quote(conversation_id, safe='')}"
    # While paused no action ran, so the bot was never "listening": record that it is,
    # or no rule matches the hand-back and the bot would fall back to a new handoff.
    _post(
        conversation_id, f"{path}/tracker/events", [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
    )
    result = _post(conversation_id, f"{path}/trigger_intent", {"name": "EXTERNAL_handback"})
    return list(result.get("messages") or [])
