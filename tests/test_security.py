"""Attacks on a real running gateway, each of which must fail (issue 10, "Security" and "Bad input").

Most attacks are refused before Rasa is involved, so their gateway runs alone (its Rasa address
answers nothing); order verification needs the bot and runs on the whole stack. Production mode
runs two gateway replicas on the real PostgreSQL, to show the lockouts are shared.
Every refusal is checked three ways: the answer, the gateway's log line, and what was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
import requests
from sqlalchemy import func, select

from bot import db
from bot.config import PROJECT_ROOT
from bot.models import ConversationMessage, FailedAttempt, UsedBuyerToken
from bot.policy import policy
from bot.processes import Process, gateway, service_env, start_all, stop_all
from bot.seed import DEMO_ORDERS
from bot.shop import verification
from bot.shop.orders import Access
from bot.web import security
from bot.web.accounts import AGENT, TRAINER, create_account
from bot.web.tokens import _b64, sign_buyer
from tests.conftest import REDIS_URL, fresh_shop
from tests.live import Stack, free_port, start_stack, stop_stack

SECRET = "security-test-secret"
PASSWORD = "correct horse 42"
SNIPPETS = PROJECT_ROOT / "docs" / "snippets"
STATIC = PROJECT_ROOT / "bot" / "web" / "static"


@dataclass
class Gateway:
    url: str
    database_url: str
    log: Path
    process: Process

    def logged(self, pattern: str, timeout: float = 5) -> str:
        """The first gateway log line matching `pattern` (waits a little: the log is written asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log.read_text(errors="replace").splitlines():
                if re.search(pattern, line):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line matching {pattern!r} in {self.log}")
            time.sleep(0.2)

    def rows(self, model: type, *where: object) -> int:
        with db.session_scope(self.database_url) as s:
            return s.scalar(select(func.count()).select_from(model).where(*where)) or 0

    def ws_url(self, query: str) -> str:
        return self.url.replace("http://", "ws://") + f"/ws/buyer?{query}"


def _accounts(url: str) -> None:
    with db.session_scope(url) as s:
        for role in (AGENT, TRAINER):
            for name in ("alice", "bob", "carol"):
                create_account(s, role, name, name, PASSWORD, policy().now())


def _start_gateway(var_dir: Path, overrides: dict[str, str]) -> Gateway:
    env = service_env(
        {
            "SHOP_VAR_DIR": str(var_dir),
            "GATEWAY_PORT": str(free_port()),
            "SHOP_SECRET": SECRET,
            "RASA_URL": f"http://127.0.0.1:{free_port()}",  # nobody listens: these attacks never reach the bot
            **overrides,
        }
    )
    process = gateway(env)
    start_all([process], timeout=60)
    port = env["GATEWAY_PORT"]
    return Gateway(f"http://127.0.0.1:{port}", env["DATABASE_URL"], process.log, process)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    var_dir = tmp_path_factory.mktemp("security")
    url = f"sqlite:///{var_dir / 'shop.db'}"
    fresh_shop(url)
    _accounts(url)
    gw = _start_gateway(var_dir, {"DATABASE_URL": url})
    yield gw
    stop_all([gw.process])
    db.dispose_all()


@pytest.fixture(scope="module")
def production(postgres_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Gateway]]:
    """Two production gateway replicas on one PostgreSQL database."""
    fresh_shop(postgres_database)
    _accounts(postgres_database)
    base = {
        "SHOP_MODE": "production",
        "DATABASE_URL": postgres_database,
        "REDIS_URL": REDIS_URL,
        "SHOP_ALLOWED_ORIGINS": "https://shop.example.com",
        "SHOP_FRAME_ANCESTORS": "'self' https://shop.example.com",
    }
    replicas = [_start_gateway(tmp_path_factory.mktemp(f"prod-gateway-{i}"), base) for i in range(2)]
    yield replicas[0], replicas[1]
    stop_all([gw.process for gw in replicas])
    db.dispose_all()


def fresh_ip() -> str:
    """A client address of its own for one test, sent the way the shop's reverse proxy would."""
    n = uuid.uuid4().int
    return f"10.{n % 256}.{(n >> 8) % 256}.{(n >> 16) % 254 + 1}"


def via_proxy(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def refused_socket(url: str, **kwargs: object) -> int:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url, **kwargs)
    return refused.value.status


async def accepted_socket(url: str, **kwargs: object) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url, **kwargs)
        await ws.close()


# --- buyer tokens ------------------------------------------------------------------------


def _signed(payload: str, secret: str = SECRET) -> str:
    import hashlib
    import hmac

    data = payload.encode()
    return f"{_b64(data)}.{_b64(hmac.new(secret.encode(), data, hashlib.sha256).digest())}"


async def test_forged_tampered_expired_and_old_format_tokens_are_refused(embedded: Gateway) -> None:
    gw = embedded
    genuine = sign_buyer("b0002", secret=SECRET.encode())
    payload, mac = genuine.split(".")
    later = int(time.time()) + 600
    attacks = {
        "bad signature": [
            sign_buyer("b0002", secret=b"not the shop's secret"),
            f"{_b64(f'b0003|{later}|{uuid.uuid4().hex}'.encode())}.{mac}",  # another buyer, the old signature
        ],
        "expired": [sign_buyer("b0002", -5, SECRET.encode())],
        "more than": [_signed(f"b0002|{int(time.time()) + 30 * 24 * 3600}|{uuid.uuid4().hex}")],  # a month
        "malformed": [_signed(f"b0002|{later}"), "b0002", genuine.replace(".", "")],  # the old two-part payload
    }
    for reason, tokens in attacks.items():
        for token in tokens:
            assert await refused_socket(gw.ws_url(f"token={token}")) == 401, (reason, token)
            assert gw.logged(f"Refused a buyer socket from .*{reason}")
    assert gw.rows(UsedBuyerToken, UsedBuyerToken.buyer_id.in_(["b0002", "b0003"])) == 0, "nothing was accepted"
    assert gw.rows(ConversationMessage, ConversationMessage.conversation_id.in_(["buyer-b0002", "buyer-b0003"])) == 0


async def test_a_token_opens_one_socket_and_its_replay_is_refused(embedded: Gateway) -> None:
    gw = embedded
    token = sign_buyer("b0004", secret=SECRET.encode())
    await accepted_socket(gw.ws_url(f"token={token}"))
    assert await refused_socket(gw.ws_url(f"token={token}")) == 401
    assert gw.logged(r"Refused a buyer socket from .*already used \(replay\)")
    await accepted_socket(gw.ws_url(f"token={sign_buyer('b0004', secret=SECRET.encode())}")), "a fresh token works"
    assert gw.rows(UsedBuyerToken, UsedBuyerToken.buyer_id == "b0004") == 2


async def test_a_token_for_a_buyer_who_does_not_exist_is_refused(embedded: Gateway) -> None:
    gw = embedded
    assert await refused_socket(gw.ws_url(f"token={sign_buyer('b9999', secret=SECRET.encode())}")) == 401
    assert gw.logged("Refused a buyer socket from .*unknown buyer b9999")
    assert gw.rows(UsedBuyerToken, UsedBuyerToken.buyer_id == "b9999") == 0


@pytest.mark.parametrize("snippet", ["sign_buyer.py", "sign_buyer.js"])
async def test_the_documented_snippets_sign_tokens_the_gateway_accepts_once(embedded: Gateway, snippet: str) -> None:
    gw = embedded
    runner = sys.executable if snippet.endswith(".py") else "node"

    def sign(buyer: str, secret: str = SECRET) -> str:
        done = subprocess.run(
            [runner, str(SNIPPETS / snippet), buyer], env={**os.environ, "SHOP_SECRET": secret},
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    token = sign("b0005")
    await accepted_socket(gw.ws_url(f"token={token}"))
    assert await refused_socket(gw.ws_url(f"token={token}")) == 401, "replayed"
    assert await refused_socket(gw.ws_url(f"token={sign('b0005', 'a guessed secret')}")) == 401, "forged"
    payload = token.split(".")[0]
    assert await refused_socket(gw.ws_url(f"token={payload}.{token.split('.')[1][::-1]}")) == 401, "tampered"


# --- the buyer socket --------------------------------------------------------------------


async def test_a_socket_from_a_foreign_origin_is_refused(embedded: Gateway) -> None:
    gw = embedded
    visitor = f"visitor={uuid.uuid4().hex[:12]}"
    host = gw.url.removeprefix("http://")
    assert await refused_socket(gw.ws_url(visitor), origin="https://evil.example") == 403
    assert gw.logged("Refused a buyer socket from .*foreign origin https://evil.example")
    await accepted_socket(gw.ws_url(visitor), origin=f"http://{host}")  # the gateway's own page
    await accepted_socket(gw.ws_url(visitor))  # not a browser: no Origin at all


async def test_an_allowed_shop_origin_may_open_the_socket_in_production(production: tuple[Gateway, Gateway]) -> None:
    gw, _ = production
    visitor = f"visitor={uuid.uuid4().hex[:12]}"
    await accepted_socket(gw.ws_url(visitor), origin="https://shop.example.com")
    assert await refused_socket(gw.ws_url(visitor), origin="https://shop.example.com.evil.example") == 403


async def test_a_flood_of_messages_is_cut_off_with_a_notice_and_not_stored(embedded: Gateway) -> None:
    gw = embedded
    visitor = uuid.uuid4().hex[:12]
    notices: list[str] = []
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(gw.ws_url(f"visitor={visitor}"))
        started = time.monotonic()
        try:
            for i in range(1000):
                await ws.send_json({"type": "say", "text": f"刷屏{i}", "client_id": f"flood-{i}"})
        except ConnectionResetError:
            pass  # the gateway already hung up on us
        assert time.monotonic() - started < 5, "1,000 messages within a few seconds"

        async def until_closed() -> None:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT and message.json()["type"] == "error":
                    notices.append(message.json()["message"])

        await asyncio.wait_for(until_closed(), 30)
        assert ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    assert notices.count(security.RATE_NOTICE) == 1, "told once, in Chinese, not once per message"
    stored = gw.rows(ConversationMessage, ConversationMessage.conversation_id == f"visitor-{visitor}", ConversationMessage.sender == "buyer")  # fmt: skip
    assert 1 <= stored <= security.SOCKET_BURST + 2, f"{stored} of 1,000 flooded messages were stored"
    assert gw.logged(f"Buyer visitor-{visitor} from .* is over the rate limit")
    assert gw.logged(f"Closing buyer socket visitor-{visitor} .* over the rate limit")


async def test_one_client_cannot_escape_the_limit_with_many_sockets(embedded: Gateway) -> None:
    gw = embedded
    ip, visitors = fresh_ip(), [uuid.uuid4().hex[:12] for _ in range(6)]
    async with aiohttp.ClientSession() as http:
        sockets = [await http.ws_connect(gw.ws_url(f"visitor={v}"), headers=via_proxy(ip)) for v in visitors]
        for ws in sockets:
            for i in range(security.SOCKET_BURST):
                await ws.send_json({"type": "say", "text": f"你好{i}", "client_id": f"m-{i}"})
        await asyncio.sleep(3)
        for ws in sockets:
            await ws.close()
    ids = [f"visitor-{v}" for v in visitors]
    stored = gw.rows(ConversationMessage, ConversationMessage.conversation_id.in_(ids), ConversationMessage.sender == "buyer")  # fmt: skip
    assert stored <= security.CLIENT_BURST + 3 * security.CLIENT_PER_SECOND + 2, stored
    assert gw.logged(f"from {ip} is over the rate limit")


async def test_a_10_mb_frame_closes_the_socket_and_nothing_is_stored(embedded: Gateway) -> None:
    gw = embedded
    visitor = uuid.uuid4().hex[:12]
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(gw.ws_url(f"visitor={visitor}"), max_msg_size=0)
        with contextlib.suppress(ConnectionResetError):  # the gateway may hang up before the frame is through
            await ws.send_str('{"type": "say", "client_id": "huge", "text": "' + "a" * (10 * 1024 * 1024) + '"}')
        message = await asyncio.wait_for(ws.receive(), 30)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert gw.logged(f"Buyer socket visitor-{visitor} from .* closed: .*(too big|size)")
    assert gw.rows(ConversationMessage, ConversationMessage.conversation_id == f"visitor-{visitor}") == 0


def test_a_huge_json_body_is_refused_unread(embedded: Gateway) -> None:
    gw = embedded
    huge = b'{"username": "alice", "password": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    answer = requests.post(f"{gw.url}/api/agent/login", data=huge, headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip
    assert answer.status_code == 413 and "larger than" in answer.json()["error"]
    assert gw.logged(r"Refused a \d+-byte body to POST /api/agent/login")
    # Without a Content-Length (chunked), the cap applies while reading.
    chunks = (b"x" * 65536 for _ in range(40))
    answer = requests.post(f"{gw.url}/api/trainer/login", data=chunks, headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip
    assert answer.status_code == 413
    assert gw.logged("Refused an oversized chunked body to POST /api/trainer/login")
    assert gw.rows(FailedAttempt, FailedAttempt.subject.like("%alice")) == 0, "never read as a login"


# --- logins ------------------------------------------------------------------------------


def _login(gw: Gateway, role: str, name: str, password: str, ip: str, **headers: str) -> requests.Response:
    return requests.post(
        f"{gw.url}/api/{role}/login", json={"username": name, "password": password},
        headers={**via_proxy(ip), **headers}, timeout=30,
    )  # fmt: skip


@pytest.mark.parametrize("role", ["agent", "trainer"])
def test_logins_are_throttled_per_account_across_replicas(production: tuple[Gateway, Gateway], role: str) -> None:
    first, second = production
    for i in range(5):
        assert _login(first, role, "alice", "wrong password", fresh_ip()).status_code == 401, i
    # Another replica, another address, the right password: still refused while the account is locked.
    refused = _login(second, role, "alice", PASSWORD, fresh_ip())
    assert refused.status_code == 429
    assert "登录失败次数过多" in refused.json()["error"] and "分钟后再试" in refused.json()["error"]
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert second.logged(f"Refused a {role} login for 'alice' from .*too many failures")
    assert _login(second, role, "bob", PASSWORD, fresh_ip()).status_code == 200, "other accounts are not locked"


def test_logins_are_throttled_per_ip(production: tuple[Gateway, Gateway]) -> None:
    first, second = production
    ip = fresh_ip()
    for i in range(10):  # spread over names, so that no account's own limit is what stops it
        assert _login(first if i % 2 else second, "agent", f"guess{i}", "wrong password", ip).status_code == 401
    assert _login(first, "agent", "carol", PASSWORD, ip).status_code == 429, "this address is locked out"
    assert _login(first, "agent", "carol", PASSWORD, fresh_ip()).status_code == 200, "carol herself is not"


def test_an_account_lockout_ends_after_its_window(embedded: Gateway) -> None:
    from bot.web.accounts import LOGIN_PER_ACCOUNT, log_in_throttled

    now = policy().now()
    with db.session_scope(embedded.database_url) as s:
        for minutes in (20, 14, 13, 12, 11, 10):
            LOGIN_PER_ACCOUNT.record_failure(s, "agent:carol", now - timedelta(minutes=minutes))
    with db.session_scope(embedded.database_url) as s:
        assert log_in_throttled(s, AGENT, "carol", PASSWORD, "192.0.2.1", now).locked_until == now + timedelta(minutes=1)  # fmt: skip
    with db.session_scope(embedded.database_url) as s:
        assert log_in_throttled(s, AGENT, "carol", PASSWORD, "192.0.2.1", now + timedelta(minutes=2)).token


# --- production mode, headers and cookies ------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/api/demo/shop", "/demo/shop.js", "/static/shop.html"])
def test_the_demo_shop_does_not_exist_in_production(production: tuple[Gateway, Gateway], path: str) -> None:
    gw, _ = production
    assert requests.get(f"{gw.url}{path}", timeout=10).status_code == 404
    token = requests.post(f"{gw.url}/api/demo/buyer-token", json={"buyer_id": "b0001"}, timeout=10)
    assert token.status_code == 404, "nobody can sign themselves in as a buyer"


def test_the_demo_shop_exists_in_embedded_mode(embedded: Gateway) -> None:
    assert "buyer-picker" in requests.get(f"{embedded.url}/", timeout=10).text
    assert requests.post(f"{embedded.url}/api/demo/buyer-token", json={"buyer_id": "b0001"}, timeout=10).ok


@pytest.mark.parametrize("path", ["/", "/console", "/trainer", "/static/widget.js", "/api/tickets", "/nothing-here"])
def test_every_response_carries_the_security_headers(embedded: Gateway, path: str) -> None:
    headers = requests.get(f"{embedded.url}{path}", timeout=10).headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "object-src 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    staff = path in ("/console", "/trainer", "/api/tickets")
    assert ("frame-ancestors 'none'" in csp) == staff and ("frame-ancestors 'self'" in csp) != staff
    assert headers["X-Frame-Options"] == ("DENY" if staff else "SAMEORIGIN")


async def test_the_socket_upgrade_carries_the_headers_too(embedded: Gateway) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(embedded.ws_url(f"visitor={uuid.uuid4().hex[:12]}"))
        assert ws._response.headers["X-Content-Type-Options"] == "nosniff"
        await ws.close()


def test_shops_that_embed_the_widget_configure_frame_ancestors(production: tuple[Gateway, Gateway]) -> None:
    gw, _ = production
    headers = requests.get(f"{gw.url}/static/widget.js", timeout=10).headers
    assert "frame-ancestors 'self' https://shop.example.com" in headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in headers, "it cannot name other origins; frame-ancestors rules"
    assert requests.get(f"{gw.url}/console", timeout=10).headers["X-Frame-Options"] == "DENY"


def test_the_pages_have_no_inline_script_or_style_for_the_policy_to_block() -> None:
    pages = [*STATIC.glob("*.html"), PROJECT_ROOT / "bot" / "web" / "demo" / "shop.html"]
    assert len(pages) >= 3
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline <script> in {page.name}"
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=|javascript:", html), f"inline style or handler in {page.name}"  # fmt: skip
    for script in STATIC.glob("*.js"):
        code = script.read_text(encoding="utf-8")
        assert not re.search(r"\beval\(|new Function\(|setAttribute\(\s*[\"']style|\.innerHTML\s*=", code), script.name


def test_cookies_are_secure_behind_tls_and_never_readable_by_scripts(production: tuple[Gateway, Gateway]) -> None:
    gw, _ = production
    behind_tls = _login(gw, "agent", "bob", PASSWORD, fresh_ip(), **{"X-Forwarded-Proto": "https"})
    cookie = behind_tls.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert behind_tls.headers["Strict-Transport-Security"].startswith("max-age=")
    plain = _login(gw, "agent", "bob", PASSWORD, fresh_ip()).headers["Set-Cookie"]
    assert "HttpOnly" in plain and "Secure" not in plain, "a plain-HTTP laptop demo still signs in"


# --- order verification ------------------------------------------------------------------


def test_wrong_phone_digits_lock_an_order_across_conversations_on_each_database(shop_url: str) -> None:
    order, now = DEMO_ORDERS["late"], policy().now()
    with db.session_scope(shop_url) as s:
        answers = [verification.check_phone(s, order, f"{i:04d}", f"198.51.100.{i}", now).access for i in range(5)]
    assert answers == [Access.PHONE_MISMATCH] * 4 + [Access.LOCKED], "five strangers, one order"
    with db.session_scope(shop_url) as s:
        locked = verification.check_phone(s, order, "5678", "198.51.100.99", now + timedelta(minutes=30))
    assert locked.access == Access.LOCKED and locked.retry_in_minutes == 30, "even the right digits, meanwhile"
    assert "30分钟后再试" in locked.locked_message and locked.locked_message.startswith("亲")
    with db.session_scope(shop_url) as s:
        assert verification.check_phone(s, order, "5678", None, now + timedelta(minutes=61)).access == Access.OK


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    var_dir = tmp_path_factory.mktemp("security-stack")
    url = f"sqlite:///{var_dir / 'shop.db'}"
    fresh_shop(url)
    stack = start_stack(var_dir, {"DATABASE_URL": url, "SHOP_SECRET": SECRET}, with_gateway=True)
    yield stack, url
    stop_stack(stack)
    db.dispose_all()


class Visitor:
    """An anonymous widget: a new visitor id is a new conversation, the old way around the 3 tries."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def say(self, text: str) -> str:
        await self.ws.send_json({"type": "say", "text": text, "client_id": uuid.uuid4().hex})

        async def reply() -> str:
            said: list[str] = []
            while True:
                message = await self.ws.receive_json()
                if message["type"] == "line" and message["line"]["sender"] == "bot":
                    said.append(message["line"]["text"])
                if message["type"] == "typing" and not message["on"]:
                    return "\n".join(said)

        return await asyncio.wait_for(reply(), 60)


async def _visitor(http: aiohttp.ClientSession, stack: Stack, ip: str) -> Visitor:
    url = f"{stack.gateway_url}/ws/buyer?visitor={uuid.uuid4().hex[:12]}"
    return Visitor(await http.ws_connect(url, headers=via_proxy(ip)))


async def test_guessing_an_orders_phone_digits_from_new_conversations_is_locked_out(shop: tuple[Stack, str]) -> None:
    stack, url = shop
    order, wrong = DEMO_ORDERS["in_transit"], 0
    async with aiohttp.ClientSession() as http:
        for _ in range(2):  # 3 + 2 wrong guesses, each conversation from a new visitor id and address
            visitor = await _visitor(http, stack, fresh_ip())
            assert "后4位" in await visitor.say(f"查一下订单 {order}")
            for _ in range(3 if wrong == 0 else 2):
                said = await visitor.say(f"{wrong:04d}")
                wrong += 1
            await visitor.ws.close()
        assert "暂时锁定" in said and "分钟后再试" in said and "转人工" in said, said
        # A third stranger is told at once, and even the right digits show nothing.
        visitor = await _visitor(http, stack, fresh_ip())
        said = await visitor.say(f"查一下订单 {order}")
        assert "暂时锁定" in said and "后4位" not in said, said
        said = await visitor.say("5678")
        assert "在途" not in said and "预计" not in said, "nothing of the order is shown"
        # A buyer the shop signed in is not affected: they see their own order.
        token = sign_buyer("b0001", secret=SECRET.encode())
        buyer = Visitor(await http.ws_connect(f"{stack.gateway_url}/ws/buyer?token={token}"))
        assert order in await buyer.say(f"查一下订单 {order}")
    with db.session_scope(url) as s:
        failures = s.scalar(select(func.count()).select_from(FailedAttempt).where(FailedAttempt.subject == order))
    assert failures == 5, "counted in the database, across conversations"


async def test_one_address_guessing_many_orders_is_locked_out(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    ip = fresh_ip()
    orders = [DEMO_ORDERS[k] for k in ("delivered_recent", "delivered_old", "lost", "paid", "unpaid")]
    async with aiohttp.ClientSession() as http:
        for order in orders[:4]:  # 4 orders x 3 tries > 10 for this address, < 5 for any one order
            visitor = await _visitor(http, stack, ip)
            await visitor.say(f"查一下订单 {order}")
            for guess in range(3):
                await visitor.say(f"{guess + 1:04d}")
            await visitor.ws.close()
        visitor = await _visitor(http, stack, ip)
        assert "暂时锁定" in await visitor.say(f"查一下订单 {orders[4]}"), "this address may not try any order"
        other = await _visitor(http, stack, fresh_ip())
        assert "后4位" in await other.say(f"查一下订单 {orders[4]}"), "the order itself is not locked"
