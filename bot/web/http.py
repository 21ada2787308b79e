"""What every JSON API of the gateway shares: reading bodies, answering JSON, signing in.

Agents (the console) and trainers (the trainers' console) sign in the same way, each
with their own cookie; `require` turns a missing or expired session into a 401.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.db import run_in_session
from bot.policy import policy
from bot.shop.lockout import minutes_until
from bot.web import accounts, security
from bot.web.accounts import Role

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def html_page(path: Path) -> web.FileResponse:
    """An HTML file, declared UTF-8 so every client (not only browsers reading <meta>) gets the Chinese right."""
    return web.FileResponse(path, headers={"Content-Type": "text/html; charset=utf-8"})


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def answer(value: Any, status: int = 200) -> web.Response:
    """A JSON response with Chinese left readable."""
    return web.json_response(value, status=status, dumps=dumps)


def refuse(message: str, status: int = 400) -> web.Response:
    """An error the console shows as it is (Chinese, for the person at the screen)."""
    return answer({"error": message}, status=status)


def refusal(message: str, error: type[web.HTTPException] = web.HTTPBadRequest) -> web.HTTPException:
    """`refuse` as an exception to raise from a helper that must end the request: the same JSON body."""
    return error(text=dumps({"error": message}), content_type="application/json")


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text="the body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


async def require(request: web.Request, role: Role) -> str:
    """The signed-in user of `role`, or a 401 the console answers with its login form."""
    token = request.cookies.get(role.cookie)
    username = await run_in_session(lambda s: accounts.signed_in(s, role, token, policy().now()))
    if username is None:
        raise refusal("请先登录", web.HTTPUnauthorized)
    return username


def login_routes(role: Role) -> tuple[Handler, Handler, Handler]:
    """Handlers for POST login, POST logout and GET me of one role."""

    async def login(request: web.Request) -> web.StreamResponse:
        body = await json_body(request)
        username, password = str(body.get("username", ""))[:64], str(body.get("password", ""))
        ip, now = security.client_ip(request), policy().now()
        attempt = await run_in_session(lambda s: accounts.log_in_throttled(s, role, username, password, ip, now))
        if attempt.locked_until is not None:
            minutes = minutes_until(attempt.locked_until, now)
            logger.warning("Refused a %s login for %r from %s: too many failures (locked %d min)", role.name, username, ip, minutes)  # fmt: skip
            response = refuse(f"登录失败次数过多，为了账号安全已暂时锁定，请{minutes}分钟后再试；忘记密码请联系管理员重置", 429)  # fmt: skip
            response.headers["Retry-After"] = str(minutes * 60)
            return response
        if attempt.token is None:
            logger.info("Failed %s login for %r from %s", role.name, username, ip)
            return refuse("用户名或密码不正确", 401)
        response = answer({"username": username})
        response.set_cookie(
            role.cookie, attempt.token, httponly=True, samesite="Strict", secure=security.secure_cookies(request),
            max_age=accounts.SESSION_HOURS * 3600,
        )  # fmt: skip
        return response

    async def logout(request: web.Request) -> web.StreamResponse:
        token = request.cookies.get(role.cookie)
        if token:
            await run_in_session(lambda s: accounts.log_out(s, role, token))
        response = answer({"ok": True})
        response.del_cookie(role.cookie)
        return response

    async def me(request: web.Request) -> web.StreamResponse:
        return answer({"username": await require(request, role)})

    return login, logout, me
