"""The chat gateway in front of a running Rasa: buyers' sockets, transcript, handoff routing.

Real processes (gateway, Rasa, action server) and a real SQLite shop; the test talks
to the gateway the way the widget and the agent console do.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot import db
from bot.models import ConversationMessage
from bot.policy import policy
from bot.web.accounts import AGENT, create_account
from bot.web.tokens import sign_buyer, verify_buyer
from tests.conftest import fresh_shop
from tests.live import Stack, start_stack, stop_stack

SECRET = "gateway-test-secret"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    var_dir = tmp_path_factory.mktemp("gateway")
    url = f"sqlite:///{var_dir / 'shop.db'}"
    fresh_shop(url)
    with db.session_scope(url) as s:
        for name in ("agent_a", "agent_b"):
            create_account(s, AGENT, name, name, "correct horse 42", policy().now())
    stack = start_stack(var_dir, {"DATABASE_URL": url, "SHOP_SECRET": SECRET}, with_gateway=True)
    yield stack, url
    stop_stack(stack)
    db.dispose_all()


class Buyer:
    """A buyer's widget: one socket, every line it received."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.lines: list[dict[str, Any]] = []

    async def say(self, text: str, client_id: str | None = None) -> None:
        await self.ws.send_json({"type": "say", "text": text, "client_id": client_id or uuid.uuid4().hex})

    async def wait_for(self, predicate: Any, timeout: float = 20) -> dict[str, Any]:
        async def loop() -> dict[str, Any]:
            while True:
                message = await self.ws.receive_json()
                if message["type"] == "line":
                    self.lines.append(message["line"])
                if predicate(message):
                    return message

        return await asyncio.wait_for(loop(), timeout)

    async def quiet_for(self, seconds: float) -> list[dict[str, Any]]:
        """Everything that arrives within `seconds` (to show nothing does)."""
        got = []
        try:
            while True:
                got.append(await asyncio.wait_for(self.ws.receive_json(), seconds))
        except asyncio.TimeoutError:
            return got


def bot_line(message: dict[str, Any]) -> bool:
    return message["type"] == "line" and message["line"]["sender"] == "bot"


def test_tokens_are_signed_and_checked() -> None:
    token = sign_buyer("b0001", secret=b"k")
    assert verify_buyer(token, secret=b"k") == "b0001"
    for forged in (token[:-2] + "xx", sign_buyer("b0001", secret=b"other"), "b0001", sign_buyer("b0001", -1, b"k")):
        with pytest.raises(ValueError):
            verify_buyer(forged, secret=b"k")


async def test_a_forged_token_is_refused(gateway: tuple[Stack, str]) -> None:
    stack, _ = gateway
    forged = sign_buyer("b0002", secret=b"not the shop's secret")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{stack.gateway_url}/ws/buyer?token={forged}")
    assert refused.value.status == 401


async def test_buyer_messages_go_to_the_bot_and_into_the_transcript(gateway: tuple[Stack, str]) -> None:
    stack, url = gateway
    token = sign_buyer("b0003", secret=SECRET.encode())
    async with aiohttp.ClientSession() as http:
        buyer = Buyer(await http.ws_connect(f"{stack.gateway_url}/ws/buyer?token={token}"))
        await buyer.say("亲 是正品吗", client_id="m-1")
        reply = await buyer.wait_for(bot_line)
        assert "假一赔三" in reply["line"]["text"]
        # The same message resent after a dropped connection is not answered twice.
        await buyer.say("亲 是正品吗", client_id="m-1")
        assert not [m for m in await buyer.quiet_for(3) if bot_line(m)]
        last_seen = buyer.lines[0]["id"]
        await buyer.ws.close()
        # A reconnect replays exactly what came after the last line seen (a fresh token: each opens one connection).
        token = sign_buyer("b0003", secret=SECRET.encode())
        again = Buyer(await http.ws_connect(f"{stack.gateway_url}/ws/buyer?token={token}&after={last_seen}"))
        replayed = await again.wait_for(bot_line)
        assert replayed["line"]["id"] == reply["line"]["id"]
        await again.ws.close()
    with db.session_scope(url) as s:
        rows = s.scalars(select(ConversationMessage).where(ConversationMessage.conversation_id == "buyer-b0003")).all()
    assert [r.sender for r in rows] == ["buyer", "bot"]
    assert rows[1].intent == "ask_authenticity" and rows[1].confidence > 0.5
    assert rows[1].extra["understood"][0]["intent"] == "ask_authenticity", "the top-3 ranking is kept"


async def test_handoff_routes_the_buyer_to_one_agent_and_back(gateway: tuple[Stack, str]) -> None:
    stack, _ = gateway
    token = sign_buyer("b0004", secret=SECRET.encode())
    base = stack.gateway_url
    # unsafe=True: keep cookies set by an IP-address host, as a browser does for 127.0.0.1.
    agent_a, agent_b = (aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) for _ in range(2))
    async with aiohttp.ClientSession() as http, agent_a as a, agent_b as b:
        buyer = Buyer(await http.ws_connect(f"{base}/ws/buyer?token={token}"))
        await buyer.say("转人工")
        promise = await buyer.wait_for(lambda m: bot_line(m) and "人工客服" in m["line"]["text"])
        # No agent's console is connected yet: the buyer hears so once, in words that fit the promise.
        await buyer.say("在吗")
        notice = (await buyer.wait_for(lambda m: m["type"] == "line" and m["line"]["sender"] == "system"))["line"]
        on_duty = "分钟内接入" in promise["line"]["text"] or "前面还有" in promise["line"]["text"]
        assert ("都在忙" in notice["text"]) == on_duty and ("暂时不在线" in notice["text"]) != on_duty

        for agent, name in ((a, "agent_a"), (b, "agent_b")):
            assert (await agent.post(f"{base}/api/agent/login", json={"username": name, "password": "wrong password"})).status == 401  # fmt: skip
            assert (await agent.post(f"{base}/api/agent/login", json={"username": name, "password": "correct horse 42"})).status == 200  # fmt: skip
        assert (await http.get(f"{base}/api/tickets")).status == 401, "only signed-in agents see conversations"
        queue = await (await a.get(f"{base}/api/tickets")).json()
        ticket = next(t for t in queue if t["conversation_id"] == "buyer-b0004")

        # While the ticket waits, the buyer's messages reach the agents, not the bot.
        console = await a.ws_connect(f"{base}/ws/agent")
        await buyer.say("有人吗")
        pushed = await asyncio.wait_for(console.receive_json(), 10)
        assert pushed["line"]["text"] == "有人吗"
        assert not [m for m in await buyer.quiet_for(3) if bot_line(m)]

        claims = await asyncio.gather(*(s.post(f"{base}/api/tickets/{ticket['id']}/claim") for s in (a, b)))
        assert sorted(r.status for r in claims) == [200, 409], "exactly one agent gets the ticket"
        winner = a if claims[0].status == 200 else b
        await buyer.wait_for(lambda m: m["type"] == "line" and m["line"]["sender"] == "system")

        await winner.post(f"{base}/api/tickets/{ticket['id']}/messages", json={"text": "亲，我是人工客服小美"})
        said = await buyer.wait_for(lambda m: m["type"] == "line" and m["line"]["sender"] == "agent")
        assert said["line"]["text"] == "亲，我是人工客服小美"

        view = await (await winner.get(f"{base}/api/tickets/{ticket['id']}")).json()
        assert [line["sender"] for line in view["lines"]][:2] == ["buyer", "bot"]

        loser = b if winner is a else a
        assert (await loser.post(f"{base}/api/tickets/{ticket['id']}/resolve")).status == 409, "only the holder ends it"
        assert (await loser.post(f"{base}/api/agent/login", data="not json")).status == 400
        assert (await winner.post(f"{base}/api/tickets/{ticket['id']}/resolve")).status == 200
        back = await buyer.wait_for(lambda m: bot_line(m) and "继续为您服务" in m["line"]["text"])
        assert back
        await buyer.say("是正品吗")
        assert "假一赔三" in (await buyer.wait_for(bot_line))["line"]["text"], "the bot answers again"
        await console.close()
        await buyer.ws.close()


async def test_empty_and_overlong_messages_get_a_chinese_error(gateway: tuple[Stack, str]) -> None:
    stack, url = gateway
    async with aiohttp.ClientSession() as http:
        buyer = Buyer(await http.ws_connect(f"{stack.gateway_url}/ws/buyer?visitor=visitor-{uuid.uuid4().hex[:12]}"))
        await buyer.say("   ")
        assert "空" in (await buyer.wait_for(lambda m: m["type"] == "error"))["message"]
        await buyer.say("啊" * 501)
        assert "500" in (await buyer.wait_for(lambda m: m["type"] == "error"))["message"]
        await buyer.ws.close()


def test_suggested_replies_quote_the_policy_in_full() -> None:
    from bot.web.suggestions import suggested_replies

    replies = {r["title"]: r["text"] for r in suggested_replies()}
    assert all("{" not in text for text in replies.values()), replies
    assert "假一赔三" in replies["正品保障"] and "48小时" in replies["发货时效"]
    assert "暂不支持货到付款" in replies["付款方式"], "the same words the bot uses"
