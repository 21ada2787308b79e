"""Every action the domain names is served by the action server, and nothing else is."""

from __future__ import annotations

from typing import Any

from rasa_sdk.executor import ActionExecutor

# Actions Rasa implements itself unless the action server overrides them.
OVERRIDES_OF_RASA_DEFAULTS = {"action_session_start", "action_default_fallback", "action_default_ask_affirmation"}


def test_the_action_server_serves_exactly_the_domains_actions(domain: dict[str, Any]) -> None:
    executor = ActionExecutor()
    executor.register_package("actions")
    assert set(executor.actions) == set(domain["actions"])
    assert set(executor.actions) >= OVERRIDES_OF_RASA_DEFAULTS
