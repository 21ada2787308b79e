"""The demo shop: its page, its buyer picker and the token endpoint behind the picker.

Embedded mode only (`./shop run` on a laptop). The token endpoint signs any seeded buyer
for anyone who asks, which is what a demo needs and exactly what a real shop must never
offer: in production (SHOP_MODE=production) none of these routes exist, so they answer 404.
A real shop signs its own signed-in buyers (docs/buyer-tokens.md).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.db import run_in_session
from bot.models import Buyer
from bot.policy import policy
from bot.shop import catalogue
from bot.web.http import dumps, html_page, json_body
from bot.web.tokens import sign_buyer

HERE = Path(__file__).parent


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", lambda _: html_page(HERE / "shop.html"))
    app.router.add_get("/demo/shop.css", lambda _: web.FileResponse(HERE / "shop.css"))
    app.router.add_get("/demo/shop.js", lambda _: web.FileResponse(HERE / "shop.js"))
    app.router.add_get("/api/demo/shop", demo_shop)
    app.router.add_post("/api/demo/buyer-token", demo_buyer_token)


async def demo_buyer_token(request: web.Request) -> web.Response:
    """The demo shop page's stand-in for the shop's own login: sign a seeded buyer."""
    body = await json_body(request)
    buyer_id = str(body.get("buyer_id") or "")
    if not re.fullmatch(r"b\d{4}", buyer_id):
        return web.json_response({"error": "unknown buyer"}, status=400)
    return web.json_response({"token": sign_buyer(buyer_id)})


async def demo_shop(request: web.Request) -> web.Response:
    """What the demo shop page lists: the catalogue and a few seeded buyers to chat as."""

    def load(session: Any) -> dict[str, Any]:
        products = catalogue.all_products(session)
        buyers = session.scalars(select(Buyer).order_by(Buyer.id).limit(8)).all()
        return {
            "shop_name": policy().shop_name,
            "products": [
                {"name": p.name, "price": p.price_text, "colors": list(p.colors), "description": p.description}
                for p in products
            ],
            "buyers": [{"id": b.id, "nickname": b.nickname} for b in buyers],
        }

    return web.json_response(await run_in_session(load), dumps=dumps)
