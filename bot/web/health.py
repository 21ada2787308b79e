"""`/health`: whether buyers can be answered, component by component; `/health/live`: the gateway answers.

A shop's process manager restarts the gateway when `/health/live` stops answering, and
alerts (or takes the replica out of its load balancer) while `/health` is not 200.
Every component listed is one some buyers need: each Rasa shard answers its own
buyers' conversations, the action server most answers, the database every message
(the transcript is written before anything else), so any of them down gives 503.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import text

from bot.config import settings
from bot.db import run_in_session

CHECK_SECONDS = 2.0  # a component slower than this counts as down: buyers would be waiting as long


async def alive(_: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


def _action_server_health_url() -> str:
    webhook = os.environ.get("ACTION_ENDPOINT_URL")  # set by bot.processes.service_env, as Rasa reads it
    if webhook and webhook.endswith("/webhook"):
        return webhook.removesuffix("/webhook") + "/health"
    return f"http://127.0.0.1:{settings().action_port}/health"


async def _timed(name: str, check: Awaitable[str | None], **about: str) -> dict[str, Any]:
    """Run one check: {"name", "ok", "ms", "error"?, …about}."""
    started = time.monotonic()
    try:
        problem = await asyncio.wait_for(check, CHECK_SECONDS)
    except asyncio.TimeoutError:
        problem = f"no answer within {CHECK_SECONDS:.0f} s"
    except Exception as exc:  # any failure of the check is the component's state, not the gateway's
        problem = f"{type(exc).__name__}: {exc}"
    result: dict[str, Any] = {"name": name, **about, "ok": problem is None}
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    if problem:
        result["error"] = problem
    return result


async def _http_ok(client: aiohttp.ClientSession, url: str) -> str | None:
    try:
        async with client.get(url, timeout=aiohttp.ClientTimeout(total=CHECK_SECONDS)) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except aiohttp.ClientError as exc:
        return f"unreachable ({type(exc).__name__})"


async def _database_ok() -> str | None:
    await run_in_session(lambda session: session.execute(text("SELECT 1")))
    return None


async def report(request: web.Request) -> web.Response:
    """Each component's state and an overall status; 503 unless every one is up."""
    client: aiohttp.ClientSession = request.app["client"]
    shards = settings().rasa_shards
    checks = [
        *(_timed("rasa", _http_ok(client, f"{url}/status"), url=url, shard=f"{i + 1}/{len(shards)}")
          for i, url in enumerate(shards)),
        _timed("action_server", _http_ok(client, url := _action_server_health_url()), url=url),
        _timed("database", _database_ok()),
    ]  # fmt: skip
    components = await asyncio.gather(*checks)
    rasa_up = [c["ok"] for c in components if c["name"] == "rasa"]
    database_up = next(c["ok"] for c in components if c["name"] == "database")
    if all(c["ok"] for c in components):
        status = "ok"
    elif not database_up or not any(rasa_up):
        status = "down"  # no buyer can be answered
    else:
        status = "degraded"  # some buyers (a shard's) or some answers (actions) cannot be given
    return web.json_response({"status": status, "components": components}, status=200 if status == "ok" else 503)
