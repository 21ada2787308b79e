"""Embedded mode's Rasa servers sharded by conversation: every caller routes a conversation alike.

Each Rasa server keeps its conversations' locks and recent sessions in memory, so a
conversation must always reach the same one (`Settings.rasa_for`).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from bot import db
from bot.config import PROJECT_ROOT, settings
from bot.seed import DEMO_ORDERS
from bot.web import rasa_outage
from bot.web.tokens import sign_buyer
from tests.conftest import fresh_shop
from tests.live import Stack, start_stack, stop_stack

SECRET = "sharding-test-secret"
BUYER = "b0001"  # owns the demo orders


def test_a_conversation_always_goes_to_the_same_rasa_server() -> None:
    s = settings({"RASA_PORT": "5005", "RASA_PROCESSES": "2"})
    assert s.rasa_shards == ("http://127.0.0.1:5005", "http://127.0.0.1:5006")
    assert s.rasa_replicas == s.rasa_shards, "a new model must reach every shard"
    assert s.rasa_url == "http://127.0.0.1:5005"
    ids = [f"buyer-b{n:04d}" for n in range(200)] + [f"visitor-{uuid.uuid4().hex}" for _ in range(200)]
    chosen = {i: s.rasa_for(i) for i in ids}
    assert all(s.rasa_for(i) == url for i, url in chosen.items())
    assert set(chosen.values()) == set(s.rasa_shards), "both servers get conversations"
    # Another process (another hash seed) picks the same server: no randomised hash().
    script = (
        "import json, sys; from bot.config import settings; "
        "s = settings({'RASA_PORT': '5005', 'RASA_PROCESSES': '2'}); "
        "print(json.dumps([s.rasa_for(i) for i in sys.stdin.read().split()]))"
    )
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", script],
            input="\n".join(ids),
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            env={"PYTHONPATH": str(PROJECT_ROOT), "PYTHONHASHSEED": seed},
            check=True,
        )
        assert out.stdout.strip() == json.dumps([chosen[i] for i in ids])


def test_one_rasa_server_where_one_is_meant() -> None:
    assert settings({"RASA_PORT": "5005"}).rasa_shards == ("http://127.0.0.1:5005", "http://127.0.0.1:5006")
    production = settings({"RASA_PORT": "5005", "SHOP_MODE": "production", "RASA_REPLICAS": "http://a,http://b"})
    assert production.rasa_shards == ("http://127.0.0.1:5005",)
    assert production.rasa_replicas == ("http://a", "http://b")
    given = settings({"RASA_URL": "http://rasa.internal:5005", "RASA_PROCESSES": "3"})
    assert given.rasa_shards == ("http://rasa.internal:5005",)
    assert given.rasa_for("anything") == "http://rasa.internal:5005"


@pytest.fixture(scope="module")
def two_shards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    var_dir = tmp_path_factory.mktemp("shards")
    url = f"sqlite:///{var_dir / 'shop.db'}"
    fresh_shop(url)
    overrides = {"DATABASE_URL": url, "SHOP_SECRET": SECRET, "RASA_PROCESSES": "2"}
    stack = start_stack(var_dir, overrides, with_gateway=True)
    yield stack
    stop_stack(stack)
    db.dispose_all()


class Widget:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def say(self, text: str) -> dict[str, Any]:
        """Send a message; the bot's answer (its lines' text and buttons), or the gateway's error."""
        await self.ws.send_json({"type": "say", "text": text, "client_id": uuid.uuid4().hex})
        said: list[str] = []
        buttons: list[str] = []
        notices: list[str] = []

        async def until_done() -> dict[str, Any]:
            while True:
                message = await self.ws.receive_json()
                if message["type"] == "line" and message["line"]["sender"] == "bot":
                    said.append(message["line"]["text"])
                    buttons.extend(b["payload"] for b in message["line"]["extra"].get("buttons") or [])
                elif message["type"] == "line" and message["line"]["sender"] == "system":
                    notices.append(message["line"]["text"])
                elif message["type"] == "error":
                    return {"type": "error", "text": message["message"], "payloads": [], "notices": notices}
                elif message["type"] == "typing" and not message["on"]:
                    return {"type": "answer", "text": "\n".join(said), "payloads": buttons, "notices": notices}

        return await asyncio.wait_for(until_done(), 60)

    async def next_notice(self) -> str:
        """The next line the gateway itself posts (sender system), e.g. the reconnecting notice."""

        async def until_notice() -> str:
            while True:
                message = await self.ws.receive_json()
                if message["type"] == "line" and message["line"]["sender"] == "system":
                    return message["line"]["text"]

        return await asyncio.wait_for(until_notice(), 30)


async def test_a_form_keeps_working_through_the_gateway_on_its_own_server(two_shards: Stack) -> None:
    stack = two_shards
    assert len(stack.rasa_processes) == 2
    conversation_id = f"buyer-{BUYER}"
    home = stack.rasa_for(conversation_id)
    other = next(p for p in stack.rasa_processes if not p.ready_url.startswith(home + "/"))
    token = sign_buyer(BUYER, secret=SECRET.encode())
    async with aiohttp.ClientSession() as http:
        buyer = Widget(await http.ws_connect(f"{stack.gateway_url}/ws/buyer?token={token}"))
        await buyer.say("我想退款")
        asked = await buyer.say(f'/inform_order_id{{"order_id":"{DEMO_ORDERS["in_transit"]}"}}')
        assert any("after_sale_reason" in p for p in asked["payloads"]), "the refund form asks the reason"

        # From here on only this conversation's server runs: every turn must go there.
        other.stop()
        digression = await buyer.say("对了你们能开发票吗")
        assert any("after_sale_reason" in p for p in digression["payloads"]), "the form resumes after the question"
        reason = next(p for p in digression["payloads"] if "after_sale_reason" in p and "size" in p)
        done = await buyer.say(reason)
        assert "发票" in digression["text"]
        assert "已经为您提交" in done["text"], done
        await buyer.ws.close()

        # A conversation of the stopped server is not quietly served by another one.
        visitor = next(
            v for v in (uuid.uuid4().hex[:12] for _ in range(1000)) if stack.rasa_for(f"visitor-{v}") != home
        )
        stranger = Widget(await http.ws_connect(f"{stack.gateway_url}/ws/buyer?visitor={visitor}"))
        # Its buyer is told the bot is reconnecting, and the message waits for its own server.
        held = await stranger.say("是正品吗")
        assert held["type"] == "answer" and held["text"] == "", f"another server answered it: {held}"
        assert (held["notices"] or [await stranger.next_notice()]) == [rasa_outage.NOTICE]
        await stranger.ws.close()
