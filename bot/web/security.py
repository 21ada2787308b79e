"""What the gateway does to every request before the shop sees it: headers, origins, sizes, rates.

- Security headers on every response (also WebSocket upgrades, static files and errors): a
  self-only Content-Security-Policy, frame-ancestors / X-Frame-Options, nosniff, Referrer-Policy.
- The buyer socket accepts browsers only from the shop's own origins (a foreign page could
  otherwise open a chat in its visitor's name).
- Request bodies and socket frames have a size cap; buyers' messages a rate cap.
- Who the client is (IP) and whether it came over TLS, trusting X-Forwarded-* only from the
  reverse proxies named in SHOP_TRUSTED_PROXIES.

Settings (environment, read at start-up):
  SHOP_ALLOWED_ORIGINS   origins whose pages may open the buyer socket, comma-separated
                         (default: only the gateway's own origin)
  SHOP_FRAME_ANCESTORS   who may frame the shop-facing pages, space-separated CSP sources
                         (default 'self'); the consoles are never framed
  SHOP_SECURE_COOKIES    1: always Secure cookies; 0: never; default: when the request came over TLS
  SHOP_TRUSTED_PROXIES   proxies whose X-Forwarded-For/-Proto are believed (default 127.0.0.1,::1)
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from aiohttp import web

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # JSON bodies: the largest the consoles send is a few kB
MAX_FRAME_BYTES = 16 * 1024  # a buyer's message is at most 500 characters (about 3 kB as escaped JSON)

# Buyers type; they do not send bursts. A burst of 10 (queued messages sent on reconnect),
# then one a second per socket; one client (IP) gets three sockets' worth across its sockets.
SOCKET_BURST, SOCKET_PER_SECOND = 10, 1.0
CLIENT_BURST, CLIENT_PER_SECOND = 30, 3.0
CLOSE_AFTER_DROPPED = 200  # a socket that keeps flooding is closed (1008)
RATE_NOTICE = "亲，您发得太快啦，小棉有点跟不上～请稍等几秒再发，刚才多出来的消息没有收到哦"

_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_STAFF_PAGES = ("/console", "/trainer", "/api/", "/ws/agent")
_REPORTS = "/api/trainer/reports/"


@dataclass(frozen=True)
class WebSecurity:
    allowed_origins: frozenset[str]  # besides the gateway's own
    frame_ancestors: tuple[str, ...]
    secure_cookies: bool | None  # None: when the request came over TLS
    trusted_proxies: frozenset[str]


def web_security(env: Mapping[str, str] = os.environ) -> WebSecurity:
    """The gateway's security settings from `env`."""
    secure = env.get("SHOP_SECURE_COOKIES", "").strip().lower()
    return WebSecurity(
        allowed_origins=frozenset(
            o.strip().rstrip("/") for o in env.get("SHOP_ALLOWED_ORIGINS", "").split(",") if o.strip()
        ),
        frame_ancestors=tuple(env.get("SHOP_FRAME_ANCESTORS", "'self'").split()) or ("'self'",),
        secure_cookies=None if secure in ("", "auto") else secure in ("1", "true", "yes", "on"),
        trusted_proxies=frozenset(
            p.strip() for p in env.get("SHOP_TRUSTED_PROXIES", "127.0.0.1,::1").split(",") if p.strip()
        ),
    )


def _config(request: web.Request) -> WebSecurity:
    return request.app["security"]


def _via_proxy(request: web.Request) -> bool:
    return request.remote in _config(request).trusted_proxies


def client_ip(request: web.Request) -> str:
    """The client's address: the nearest untrusted hop of X-Forwarded-For when a trusted proxy sent it."""
    remote = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    if not forwarded or not _via_proxy(request):
        return remote
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    trusted = _config(request).trusted_proxies
    # Walk from the right: entries added by our own proxies are believed, the first other one is the client.
    for hop in reversed(hops):
        if hop not in trusted:
            return hop[:64]
    return hops[0][:64] if hops else remote


def came_over_tls(request: web.Request) -> bool:
    if request.secure:
        return True
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return _via_proxy(request) and proto == "https"


def secure_cookies(request: web.Request) -> bool:
    """Whether cookies set on this response get the Secure flag."""
    setting = _config(request).secure_cookies
    return came_over_tls(request) if setting is None else setting


def _host(request: web.Request) -> str | None:
    host = request.headers.get("Host", "")
    return host if _HOST.fullmatch(host) else None


def own_origin(request: web.Request) -> str | None:
    host = _host(request)
    return f"{'https' if came_over_tls(request) else 'http'}://{host}" if host else None


def origin_allowed(request: web.Request) -> bool:
    """May the page that opened this socket talk to the shop? Browsers always send Origin.

    A client without Origin is not a browser page (the terminal chat, a shop's own backend); it
    still needs a valid token or visitor id, and could send any Origin it likes anyway.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    return origin == own_origin(request) or origin in _config(request).allowed_origins


def _csp(request: web.Request, staff: bool) -> str:
    ancestors = "'none'" if staff else " ".join(_config(request).frame_ancestors)
    if request.path.startswith(_REPORTS):
        # The evaluation report is one self-contained file: its own <style> and data: images, no script at all.
        return f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors {ancestors}"
    host = _host(request)
    sockets = f" ws://{host} wss://{host}" if host else ""  # older Safari does not count ws: as 'self'
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
        f"connect-src 'self'{sockets}; object-src 'none'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {ancestors}"
    )


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, including WebSocket upgrades, files and errors."""
    staff = request.path.startswith(_STAFF_PAGES)
    headers = response.headers
    headers["Content-Security-Policy"] = _csp(request, staff)
    ancestors = _config(request).frame_ancestors
    if staff or ancestors == ("'none'",):
        headers["X-Frame-Options"] = "DENY"
    elif ancestors == ("'self'",):
        headers["X-Frame-Options"] = "SAMEORIGIN"
    # Other ancestors: X-Frame-Options cannot name them; browsers follow frame-ancestors instead.
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    if came_over_tls(request):
        headers["Strict-Transport-Security"] = "max-age=31536000"


@web.middleware
async def limit_body_size(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
    """Refuse an oversized body before reading it, and log it (aiohttp's own cap would only say 413)."""
    limit: int = request.app["max_body_bytes"]
    if request.content_length is not None and request.content_length > limit:
        logger.warning(
            "Refused a %d-byte body to %s %s from %s (limit %d)",
            request.content_length, request.method, request.path, client_ip(request), limit,
        )  # fmt: skip
        raise _too_large(limit)
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:  # a chunked body that grew past the cap while being read
        logger.warning("Refused an oversized chunked body to %s %s from %s", request.method, request.path, client_ip(request))  # fmt: skip
        raise _too_large(limit) from None


def _too_large(limit: int) -> web.HTTPException:
    return web.HTTPRequestEntityTooLarge(
        max_size=limit, actual_size=limit + 1, text=f'{{"error": "request body larger than {limit} bytes"}}',
        content_type="application/json",
    )  # fmt: skip


class TokenBucket:
    """`capacity` at once, then `per_second`: the classic rate limiter."""

    def __init__(self, capacity: float, per_second: float) -> None:
        self.capacity, self.per_second = capacity, per_second
        self.tokens, self.at = capacity, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Verdict(Enum):
    ACCEPT = "accept"
    NOTIFY = "notify"  # dropped; tell the buyer (once per flood)
    DROP = "drop"  # dropped silently (already told)
    CLOSE = "close"  # still flooding: close the socket


@dataclass
class BuyerRateLimit:
    """Buyers' message rates, per socket and per client IP, in this gateway process.

    Per process on purpose: a flood is stopped where it arrives, without a database or Redis
    round trip per message; N replicas allow a client at most N times the rate.
    """

    clients: dict[str, TokenBucket] = field(default_factory=dict)

    def for_socket(self, conversation_id: str, ip: str) -> SocketRate:
        if len(self.clients) > 10_000:  # forget clients that have been quiet long enough to be full again
            for key in [k for k, b in self.clients.items() if b.take() and b.tokens >= b.capacity - 1]:
                del self.clients[key]
        client = self.clients.setdefault(ip, TokenBucket(CLIENT_BURST, CLIENT_PER_SECOND))
        return SocketRate(conversation_id, ip, TokenBucket(SOCKET_BURST, SOCKET_PER_SECOND), client)


@dataclass
class SocketRate:
    conversation_id: str
    ip: str
    socket: TokenBucket
    client: TokenBucket
    dropped: int = 0

    def check(self) -> Verdict:
        """What to do with the message that just arrived on this socket."""
        if self.socket.take() and self.client.take():
            if self.dropped:
                logger.warning("Buyer %s from %s: dropped %d messages over the rate limit", self.conversation_id, self.ip, self.dropped)  # fmt: skip
                self.dropped = 0
            return Verdict.ACCEPT
        self.dropped += 1
        if self.dropped == 1:
            logger.warning("Buyer %s from %s is over the rate limit: dropping messages", self.conversation_id, self.ip)
            return Verdict.NOTIFY
        if self.dropped >= CLOSE_AFTER_DROPPED:
            logger.warning("Closing buyer socket %s from %s: %d messages over the rate limit", self.conversation_id, self.ip, self.dropped)  # fmt: skip
            return Verdict.CLOSE
        return Verdict.DROP
