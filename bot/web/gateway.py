"""The chat gateway: owns each buyer's conversation and routes every message.

Buyers talk over a WebSocket. Every line is stored in the transcript first, then
routed: to Rasa while the conversation is with the bot, to the agents while a
handoff ticket is open. Agents use a small JSON API and a WebSocket for the live
queue. Rasa never pushes anything itself, and a handed-off buyer never gets bot replies.

Protocol (JSON over the buyer socket):
  buyer → gateway  {"type": "say", "text": "...", "client_id": "<unique per message>"}
  gateway → buyer  {"type": "line", "line": {...}}   every stored line, in id order
                   {"type": "typing", "on": true|false}
                   {"type": "error", "message": "<Chinese, for the buyer>"}
On (re)connect with ?after=<last line id seen>, the gateway replays what was missed;
a resent message with the same client_id is stored and answered once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import WSMsgType, web
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import run_in_session
from bot.models import AgentAccount, Buyer
from bot.policy import policy
from bot.rasa_api import RasaUnavailable, hand_back
from bot.shop import after_sale, handoff, orders
from bot.trainer import inbox
from bot.web import demo, health, rasa_outage, security, suggestions, trainer_api, transcript
from bot.web.accounts import AGENT
from bot.web.http import dumps, html_page, json_body, login_routes, require
from bot.web.tokens import InvalidToken, read_buyer_token, redeem

logger = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
MAX_MESSAGE_CHARS = 500
_ANON_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")


class Hub:
    """Who is listening in this process: buyer sockets per conversation, agent sockets."""

    def __init__(self) -> None:
        self.buyers: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self.agents: set[web.WebSocketResponse] = set()
        self.told_to_wait: set[int] = set()  # tickets whose buyer heard when agents are back

    async def to_buyer(self, conversation_id: str, message: dict[str, Any]) -> None:
        for ws in list(self.buyers.get(conversation_id, ())):
            await _send(ws, message)

    async def to_agents(self, message: dict[str, Any]) -> None:
        for ws in list(self.agents):
            await _send(ws, message)


async def _send(ws: web.WebSocketResponse, message: dict[str, Any]) -> None:
    if not ws.closed:
        with contextlib.suppress(ConnectionResetError):  # the buyer left mid-send
            await ws.send_json(message)


def create_app(rasa_for: Callable[[str], str], with_demo: bool = True) -> web.Application:
    """The gateway app; `rasa_for(conversation_id)` is the Rasa server of a conversation (`Settings.rasa_for`).

    `with_demo`: the demo shop page and its token endpoint (embedded mode only, see bot.web.demo).
    """
    app = web.Application(client_max_size=security.MAX_BODY_BYTES, middlewares=[security.limit_body_size])
    app["max_body_bytes"] = security.MAX_BODY_BYTES
    app["security"] = security.web_security()
    app["buyer_rate"] = security.BuyerRateLimit()
    app.on_response_prepare.append(security.add_security_headers)
    app["rasa_for"] = rasa_for
    app["hub"] = Hub()
    app["rasa_backlog"] = rasa_outage.RasaBacklog()  # buyers' messages while their Rasa shard is down
    app.router.add_get("/health", health.report)  # each component; 503 when buyers cannot all be answered
    app.router.add_get("/health/live", health.alive)
    app.router.add_get("/console", lambda _: html_page(STATIC / "console.html"))
    app.router.add_static("/static", STATIC)
    if with_demo:
        demo.add_routes(app)
    app.router.add_get("/ws/buyer", buyer_socket)
    login, logout, me = login_routes(AGENT)
    app.router.add_post("/api/agent/login", login)
    app.router.add_post("/api/agent/logout", logout)
    app.router.add_get("/api/agent/me", me)
    app.router.add_get("/api/agents", list_agents)
    app.router.add_get("/api/suggestions", suggested_replies)
    app.router.add_get("/api/tickets", list_tickets)
    app.router.add_get("/api/tickets/{id}", show_ticket)
    app.router.add_post("/api/tickets/{id}/claim", claim_ticket)
    app.router.add_post("/api/tickets/{id}/messages", agent_message)
    app.router.add_post("/api/tickets/{id}/resolve", resolve_ticket)
    app.router.add_post("/api/tickets/{id}/transfer", transfer_ticket)
    app.router.add_post("/api/lines/{id}/misunderstood", mark_misunderstood)
    app.router.add_get("/ws/agent", agent_socket)
    trainer_api.add_routes(app)
    app.on_startup.append(_open_client)
    app.on_shutdown.append(_close_sockets)
    app.on_shutdown.append(lambda app: app["rasa_backlog"].stop())
    app.on_cleanup.append(_close_client)
    return app


async def _open_client(app: web.Application) -> None:
    app["client"] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))


async def _close_sockets(app: web.Application) -> None:
    """Tell every widget and console we are going, so they reconnect at once."""
    hub: Hub = app["hub"]
    for ws in [*hub.agents, *(ws for group in hub.buyers.values() for ws in group)]:
        await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server restarting")


async def _close_client(app: web.Application) -> None:
    await app["client"].close()


# --- buyers --------------------------------------------------------------------


async def _identify(request: web.Request) -> tuple[str, str | None]:
    """(conversation id, buyer id) for a socket; raises InvalidToken for a bad, used or unknown buyer's token."""
    token = request.query.get("token")
    if token:
        claims = read_buyer_token(token)

        def accept(s: Session) -> None:
            if s.get(Buyer, claims.buyer_id) is None:  # signed by the shop, but no such buyer here
                raise InvalidToken(f"token for unknown buyer {claims.buyer_id}")
            redeem(s, claims)  # once only: a second use is a replay

        await run_in_session(accept)
        return f"buyer-{claims.buyer_id}", claims.buyer_id
    anonymous = request.query.get("visitor", "")
    if not _ANON_ID.fullmatch(anonymous):
        raise InvalidToken("anonymous visitors need a visitor id")
    return f"visitor-{anonymous}", None


async def buyer_socket(request: web.Request) -> web.WebSocketResponse:
    ip = security.client_ip(request)
    if not security.origin_allowed(request):
        logger.warning("Refused a buyer socket from %s: foreign origin %s", ip, request.headers.get("Origin"))
        raise web.HTTPForbidden(text="this origin may not open the chat (SHOP_ALLOWED_ORIGINS)")
    try:
        conversation_id, buyer_id = await _identify(request)
    except InvalidToken as exc:
        logger.warning("Refused a buyer socket from %s: %s", ip, exc)
        raise web.HTTPUnauthorized(text="invalid buyer token") from exc
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=security.MAX_FRAME_BYTES)
    await ws.prepare(request)
    hub: Hub = request.app["hub"]
    hub.buyers[conversation_id].add(ws)
    rate = request.app["buyer_rate"].for_socket(conversation_id, ip)
    try:
        after = int(request.query.get("after", "0") or 0)
        for line in await run_in_session(lambda s: transcript.history(s, conversation_id, after)):
            await _send(ws, {"type": "line", "line": line.as_json()})
        async for message in ws:
            if message.type == WSMsgType.ERROR:  # e.g. a frame over max_msg_size: aiohttp closes with 1009
                logger.warning("Buyer socket %s from %s closed: %s", conversation_id, ip, ws.exception())
                break
            if message.type != WSMsgType.TEXT:
                continue
            verdict = rate.check()
            if verdict is not security.Verdict.ACCEPT:  # over the rate: not stored, not answered
                if verdict is security.Verdict.NOTIFY:
                    await _send(ws, {"type": "error", "message": security.RATE_NOTICE})
                elif verdict is security.Verdict.CLOSE:
                    await ws.close(code=aiohttp.WSCloseCode.POLICY_VIOLATION, message=b"too many messages")
                    break
                continue
            try:
                body = message.json()
            except ValueError:
                await _send(ws, {"type": "error", "message": "亲，消息格式不对，请刷新页面再试～"})
                continue
            await _on_buyer_message(request.app, ws, conversation_id, buyer_id, body, ip)
    finally:
        hub.buyers[conversation_id].discard(ws)
    return ws


async def _on_buyer_message(
    app: web.Application,
    ws: web.WebSocketResponse,
    conversation_id: str,
    buyer_id: str | None,
    body: Any,
    ip: str | None = None,
) -> None:
    text = str((body or {}).get("text") or "").strip() if isinstance(body, dict) else ""
    client_id = str(body.get("client_id") or "")[:64] if isinstance(body, dict) else ""
    if not text or not client_id:
        await _send(ws, {"type": "error", "message": "亲，消息是空的哦，请输入内容再发送～"})
        return
    if len(text) > MAX_MESSAGE_CHARS:
        await _send(ws, {"type": "error", "message": f"亲，一条消息最多{MAX_MESSAGE_CHARS}个字哦，请分几次发送～"})
        return
    hub: Hub = app["hub"]
    now = policy().now()
    line, new = await run_in_session(lambda s: transcript.append(s, conversation_id, "buyer", text, now, client_id))
    await hub.to_buyer(conversation_id, {"type": "line", "line": line.as_json()})
    if not new:
        return  # a resend after a dropped connection: already answered
    ticket = await run_in_session(lambda s: handoff.active_ticket(s, conversation_id))
    if ticket:
        await hub.to_agents({"type": "line", "ticket": ticket.id, "line": line.as_json()})
        if ticket.status == "pending" and not hub.agents and ticket.id not in hub.told_to_wait:
            hub.told_to_wait.add(ticket.id)
            await _post(app, conversation_id, "system", _waiting_notice())
        return
    held = rasa_outage.HeldMessage(buyer_id, text, ip)
    if app["rasa_backlog"].holds(conversation_id):  # earlier messages wait for their Rasa shard: keep the order
        app["rasa_backlog"].keep(conversation_id, held)
        return
    if not await _answer(app, conversation_id, held):
        await _hold_for_rasa(app, conversation_id, held)


async def _answer(app: web.Application, conversation_id: str, held: rasa_outage.HeldMessage) -> bool:
    """One buyer message to Rasa, typing shown meanwhile; False when Rasa could not be reached at all."""
    hub: Hub = app["hub"]
    await hub.to_buyer(conversation_id, {"type": "typing", "on": True})
    try:
        return await _ask_rasa(app, conversation_id, held.buyer_id, held.text, held.ip)
    finally:
        await hub.to_buyer(conversation_id, {"type": "typing", "on": False})


async def _hold_for_rasa(app: web.Application, conversation_id: str, held: rasa_outage.HeldMessage) -> None:
    """Rasa never got the message (its shard is restarting): keep it, tell the buyer once, answer it later."""
    backlog: rasa_outage.RasaBacklog = app["rasa_backlog"]
    if backlog.keep(conversation_id, held):
        await _post(app, conversation_id, "system", rasa_outage.NOTICE)
    backlog.drain(
        conversation_id,
        app["rasa_for"](conversation_id),
        app["client"],
        lambda message: _answer(app, conversation_id, message),
    )


def _waiting_notice() -> str:
    """What a handed-off buyer hears while no agent's console is connected."""
    p = policy()
    if p.agents_working(datetime.now(p.timezone)):
        # The bot just promised an agent within minutes: "offline" would contradict it.
        return "客服都在忙，您的消息已记录，客服接入后会第一时间回复您，请稍等～"
    start, end = p.agent_hours
    return f"人工客服暂时不在线（工作时间 {start}-{end}），您的消息已记录，客服上线后会第一时间回复您"


async def _ask_rasa(
    app: web.Application, conversation_id: str, buyer_id: str | None, text: str, ip: str | None = None
) -> bool:
    """Send the message to the conversation's Rasa server and pass its replies on; False if it was not reached."""
    hub: Hub = app["hub"]
    metadata = {"buyer_id": buyer_id} if buyer_id else {}
    if ip:
        metadata["client_ip"] = ip  # order verification is limited per client IP too (bot.shop.verification)
    body = {"sender": conversation_id, "message": text, "metadata": metadata}
    rasa = app["rasa_for"](conversation_id)  # always the same server for a conversation (Settings.rasa_for)
    reached = False  # until a connection is made, Rasa cannot have seen the message
    try:
        async with app["client"].post(f"{rasa}/webhooks/rest/webhook", json=body) as response:
            reached = True
            response.raise_for_status()
            replies = await response.json()
        understood = await _latest_understanding(app, conversation_id)
    except aiohttp.ClientConnectorError as exc:
        if not reached:  # no connection: Rasa never saw the message, so it may be sent again later
            logger.warning(
                "Rasa %s unreachable for %s; holding the message until it is back: %s", rasa, conversation_id, exc
            )
            return False
        logger.error("Rasa did not answer for %s: %s", conversation_id, exc)
        await hub.to_buyer(conversation_id, {"type": "error", "message": "亲，系统开小差了，请稍后再发一次～"})
        return True
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        logger.error("Rasa did not answer for %s: %s", conversation_id, exc)
        await hub.to_buyer(conversation_id, {"type": "error", "message": "亲，系统开小差了，请稍后再发一次～"})
        return True  # it may have reached Rasa: sending it again could answer it twice
    now = policy().now()
    fields = {"intent": understood.get("intent"), "confidence": understood.get("confidence")}

    def store(s: Session) -> tuple[list[transcript.Line], bool]:
        lines = []
        for reply in replies:
            extra = {k: reply[k] for k in ("buttons", "custom", "image") if reply.get(k)}
            extra["understood"] = understood.get("ranking", [])
            lines.append(
                transcript.append(s, conversation_id, "bot", reply.get("text") or "", now, extra=extra, **fields)[0]
            )
        # An action may have handed the buyer off during this turn: the agents' queue changed.
        return lines, handoff.active_ticket(s, conversation_id) is not None

    lines, handed_off = await run_in_session(store)
    for line in lines:
        await hub.to_buyer(conversation_id, {"type": "line", "line": line.as_json()})
    if handed_off:
        await hub.to_agents({"type": "queue"})
    return True


async def _latest_understanding(app: web.Application, conversation_id: str) -> dict[str, Any]:
    """The intent and confidence Rasa saw in the buyer's latest message (for agents)."""
    rasa = app["rasa_for"](conversation_id)
    url = f"{rasa}/conversations/{quote(conversation_id, safe='')}/tracker?include_events=NONE"
    async with app["client"].get(url) as response:
        if response.status != 200:
            return {}
        latest = (await response.json()).get("latest_message") or {}
    intent = latest.get("intent") or {}
    # The top three, so trainers can later find near-ties and low-confidence guesses.
    ranking = [
        {"intent": r.get("name"), "confidence": round(float(r.get("confidence") or 0), 4)}
        for r in (latest.get("intent_ranking") or [])[:3]
    ]
    return {"intent": intent.get("name"), "confidence": intent.get("confidence"), "ranking": ranking}


# --- agents --------------------------------------------------------------------


async def _agent(request: web.Request) -> str:
    return await require(request, AGENT)


async def list_agents(request: web.Request) -> web.Response:
    await _agent(request)
    names = await run_in_session(
        lambda s: list(s.scalars(select(AgentAccount.username).order_by(AgentAccount.username)))
    )
    return web.json_response(names)


async def suggested_replies(request: web.Request) -> web.Response:
    await _agent(request)
    return web.json_response(suggestions.suggested_replies(), dumps=dumps)


async def list_tickets(request: web.Request) -> web.Response:
    await _agent(request)
    now = policy().now()
    tickets = await run_in_session(handoff.list_tickets)
    return web.json_response(
        [
            {
                "id": t.id, "conversation_id": t.conversation_id, "reason": t.reason, "reason_label": t.reason_label,
                "status": t.status, "priority": t.priority, "buyer_id": t.buyer_id, "order_id": t.order_id,
                "assigned_agent": t.assigned_agent, "waiting_minutes": int((now - t.created_at).total_seconds() // 60),
            }
            for t in tickets
        ]
    )  # fmt: skip


async def _ticket(request: web.Request) -> handoff.TicketView:
    ticket_id = int(request.match_info["id"])
    ticket = await run_in_session(lambda s: handoff.get_ticket(s, ticket_id))
    if ticket is None:
        raise web.HTTPNotFound(text=f"no ticket {ticket_id}")
    return ticket


async def show_ticket(request: web.Request) -> web.Response:
    await _agent(request)
    ticket = await _ticket(request)
    lines = await run_in_session(lambda s: transcript.history(s, ticket.conversation_id))
    buyer_orders = await run_in_session(lambda s: _orders_of(s, ticket.buyer_id))
    body = {
        "ticket": {**ticket.__dict__, "reason_label": ticket.reason_label},
        "lines": [line.as_json() for line in lines],
        "orders": buyer_orders,
    }
    return web.json_response(body, dumps=dumps)


def _orders_of(session: Any, buyer_id: str | None) -> list[dict[str, Any]]:
    """The buyer's recent orders as the agent sees them: status, logistics, after-sale."""
    if not buyer_id:
        return []
    out = []
    for order in orders.recent_orders(session, buyer_id, policy(), policy().now(), limit=6):
        request = after_sale.latest_request(session, order.id)
        out.append(
            {
                "id": order.id, "status": order.status_label, "items": list(order.items), "total": str(order.total),
                "courier": order.courier, "tracking_number": order.tracking_number,
                "events": [[f"{at:%m-%d %H:%M}", text] for at, text in order.events],
                "after_sale": None if request is None else {
                    "id": request.id, "kind": request.kind_label, "reason": request.reason_label, "status": request.status_label,
                },
            }
        )  # fmt: skip
    return out


async def claim_ticket(request: web.Request) -> web.Response:
    agent = await _agent(request)
    ticket = await _ticket(request)
    won = await run_in_session(lambda s: handoff.claim_ticket(s, ticket.id, agent, policy().now()))
    if not won:
        return web.json_response({"error": "这个工单已经被其他客服接手了"}, status=409)
    await _post(request.app, ticket.conversation_id, "system", "人工客服已接入，请问有什么可以帮您？", agent=agent)
    await request.app["hub"].to_agents({"type": "queue"})
    return web.json_response({"claimed": ticket.id})


async def agent_message(request: web.Request) -> web.Response:
    agent = await _agent(request)
    ticket = await _ticket(request)
    if ticket.status != "open" or ticket.assigned_agent != agent:
        return web.json_response({"error": "请先接手这个工单"}, status=409)
    text = str((await json_body(request)).get("text") or "").strip()
    if not text or len(text) > MAX_MESSAGE_CHARS:
        return web.json_response({"error": f"消息不能为空，也不能超过{MAX_MESSAGE_CHARS}字"}, status=400)
    line = await _post(request.app, ticket.conversation_id, "agent", text, agent=agent)
    return web.json_response(line.as_json())


async def resolve_ticket(request: web.Request) -> web.Response:
    """Close the ticket and give the conversation back to the bot; the buyer is told."""
    agent = await _agent(request)
    ticket = await _ticket(request)
    if ticket.status != "open" or ticket.assigned_agent != agent:
        return web.json_response({"error": "只有正在处理这个工单的客服可以结束它"}, status=409)
    resolved = await run_in_session(lambda s: handoff.resolve_ticket(s, ticket.id, policy().now()))
    if resolved is None:
        return web.json_response({"error": "工单已经结束"}, status=409)
    await _post(
        request.app, ticket.conversation_id, "system", "人工客服已离开，接下来由智能客服继续为您服务", agent=agent
    )
    try:
        messages = await asyncio.to_thread(hand_back, ticket.conversation_id)
    except RasaUnavailable as exc:
        logger.error("Ticket %s resolved but Rasa did not resume %s: %s", ticket.id, ticket.conversation_id, exc)
        return web.json_response({"resolved": ticket.id, "resumed": False})
    for message in messages:
        await _post(request.app, ticket.conversation_id, "bot", message.get("text") or "")
    await request.app["hub"].to_agents({"type": "queue"})
    return web.json_response({"resolved": ticket.id, "resumed": True})


async def transfer_ticket(request: web.Request) -> web.Response:
    agent = await _agent(request)
    ticket = await _ticket(request)
    to_agent = str((await json_body(request)).get("to") or "")
    exists = await run_in_session(lambda s: s.get(AgentAccount, to_agent) is not None)
    if not exists or to_agent == agent:
        return web.json_response({"error": "请选择另一位客服"}, status=400)
    moved = await run_in_session(lambda s: handoff.transfer_ticket(s, ticket.id, agent, to_agent))
    if not moved:
        return web.json_response({"error": "只有正在处理这个工单的客服可以转交"}, status=409)
    await request.app["hub"].to_agents({"type": "queue"})
    return web.json_response({"transferred": ticket.id, "to": to_agent})


async def mark_misunderstood(request: web.Request) -> web.Response:
    """An agent flags a bot answer as a misunderstanding: it goes to the trainers' inbox."""
    await _agent(request)
    line_id = int(request.match_info["id"])
    if not await run_in_session(lambda s: inbox.mark_misunderstood(s, line_id)):
        return web.json_response({"error": "只能标记机器人的回复"}, status=400)
    return web.json_response({"marked": line_id})


async def _post(app: web.Application, conversation_id: str, sender: str, text: str, **fields: Any) -> transcript.Line:
    """Store a line in the transcript and show it to the buyer."""
    now = policy().now()
    line, _ = await run_in_session(lambda s: transcript.append(s, conversation_id, sender, text, now, **fields))
    await app["hub"].to_buyer(conversation_id, {"type": "line", "line": line.as_json()})
    return line


async def agent_socket(request: web.Request) -> web.WebSocketResponse:
    await _agent(request)
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    hub: Hub = request.app["hub"]
    hub.agents.add(ws)
    try:
        async for _ in ws:
            pass  # agents act through the JSON API; this socket only pushes updates
    finally:
        hub.agents.discard(ws)
    return ws


def main() -> None:
    import argparse

    from bot.config import settings

    parser = argparse.ArgumentParser(description="the shop's chat gateway")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s - %(message)s")
    # 127.0.0.1 by default; GATEWAY_HOST=0.0.0.0 serves other machines (put TLS in front).
    host = os.environ.get("GATEWAY_HOST", "127.0.0.1")
    from bot.processes import production  # the demo shop exists in embedded mode only

    app = create_app(settings().rasa_for, with_demo=not production())
    web.run_app(app, host=host, port=args.port, print=None)


if __name__ == "__main__":
    main()
