"""Replay real buyers' multi-turn sessions through the whole running product and report where buyers get trapped.

A fixed random sample of sessions (3+ buyer lines, JDDC_chat_* and JDDC2020_*
sources of /work/shared/real_buyers/pool.tsv) is sent line by line through the
gateway's buyer WebSocket, as the widget does, to a stack started on free ports
with a freshly seeded shop. Each session is its own signed-in buyer with no orders
in the shop (the real buyers' orders are not ours). Reported: sessions handed to a
person and after how many turns, fallback ("did you mean…" / "please rephrase")
share of turns, forms started and abandoned, and the buyer lines just before a
handoff. Writes results/replay.json.

    .venv/bin/python scripts/replay_sessions.py [--sessions 150] [--seed 7] [--model models/shop-….tar.gz]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import requests

from bot import db
from bot.config import PROJECT_ROOT, settings
from bot.processes import action_server, gateway, rasa_servers, service_env, start_all, stop_all
from bot.shop import handoff
from bot.training import train_if_stale
from bot.web.tokens import sign_buyer
from tests.conftest import fresh_shop
from tests.live import stack_ports

POOL = Path("/work/shared/real_buyers/pool.tsv")
SOURCES = ("JDDC_chat_", "JDDC2020_")
RESULTS = PROJECT_ROOT / "results" / "replay.json"
SECRET = "replay-secret"
# Buyer-visible texts of the two fallback steps (domain.yml: utter_did_you_mean, utter_ask_rephrase).
FALLBACK_MARKS = ("不太确定您的意思", "没太理解")
# The action that finishes each form (data/rules.yml: "submit …").
SUBMITS = {
    "track_order_form": "action_track_order",
    "after_sale_form": "action_submit_after_sale",
    "change_order_form": "action_submit_change_order",
    "size_form": "action_size_advice",
}


def sample_sessions(pool: Path, count: int, seed: int) -> list[tuple[str, list[str]]]:
    """`count` sessions of 3+ buyer lines, chosen with `seed`; each session's lines in pool order."""
    lines: dict[str, list[str]] = defaultdict(list)
    with pool.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row["source"].startswith(SOURCES):
                lines[row["session"]].append(row["utterance"])
    eligible = sorted(s for s, texts in lines.items() if len(texts) >= 3)
    chosen = random.Random(seed).sample(eligible, min(count, len(eligible)))
    return [(s, lines[s]) for s in chosen]


@dataclass
class SessionResult:
    session: str
    turns: int = 0
    fallback_turns: int = 0
    handoff_turn: int | None = None  # 1-based buyer turn after which a person had the chat
    handoff_reason: str | None = None
    before_handoff: str | None = None
    forms_started: list[str] = field(default_factory=list)
    forms_abandoned: list[str] = field(default_factory=list)
    trap: str | None = None  # where the handoff happened: the form then active and the intent understood
    errors: int = 0
    transcript: list[dict[str, Any]] = field(default_factory=list)


async def replay_one(
    http: aiohttp.ClientSession,
    gateway_url: str,
    rasa_url: str,
    database_url: str,
    index: int,
    session: str,
    lines: list[str],
) -> SessionResult:
    result = SessionResult(session)
    buyer_id = f"replay{index:04d}"
    conversation = f"buyer-{buyer_id}"
    ws = await http.ws_connect(f"{gateway_url}/ws/buyer?token={sign_buyer(buyer_id, secret=SECRET.encode())}")
    try:
        for turn, text in enumerate(lines, 1):
            await ws.send_json({"type": "say", "text": text, "client_id": uuid.uuid4().hex})
            replies = await _replies(ws)
            if replies is None:
                result.errors += 1
            result.turns = turn
            bot = [r["text"] for r in replies or []]
            result.transcript.append({"buyer": text, "bot": bot})
            if any(mark in t for t in bot for mark in FALLBACK_MARKS):
                result.fallback_turns += 1
            ticket = await db.run_in_session(lambda s: handoff.active_ticket(s, conversation), database_url)
            if ticket:
                result.handoff_turn, result.handoff_reason, result.before_handoff = turn, ticket.reason, text
                break
    finally:
        await ws.close()
    events = requests.get(f"{rasa_url}/conversations/{conversation}/tracker", timeout=30).json().get("events", [])
    result.forms_started, result.forms_abandoned = _forms(events)
    if result.handoff_turn:
        result.trap = _trap(events)
    return result


def _trap(events: list[dict[str, Any]]) -> str:
    """'<active form or no form> / <intent of the buyer's line>' when the handoff action ran."""
    form, intent = None, None
    for event in events:
        if event.get("event") == "active_loop":
            form = event.get("name")
        elif event.get("event") == "user":
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        elif event.get("event") == "action" and event.get("name") in ("action_handoff", "action_default_fallback"):
            break
    return f"{form or 'no form'} / {intent}"


async def _replies(ws: aiohttp.ClientWebSocketResponse, timeout: float = 60) -> list[dict[str, Any]] | None:
    """The bot's lines for one buyer message: everything until the gateway stops "typing" (None on timeout)."""
    lines: list[dict[str, Any]] = []
    seen_typing = False
    try:
        while True:
            message = await asyncio.wait_for(ws.receive_json(), timeout)
            if message["type"] == "typing":
                if not message["on"]:
                    return lines
                seen_typing = True
            elif message["type"] == "line" and message["line"]["sender"] in ("bot", "system"):
                lines.append(message["line"])
                if message["line"]["sender"] == "system" and not seen_typing:
                    return lines  # a handed-off buyer's notice: no bot turn follows
    except asyncio.TimeoutError:
        return lines if not seen_typing else None
    except TypeError:  # the socket closed
        return None


def _forms(events: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Forms this conversation started, and those never finished by their submit action."""
    started, abandoned, open_form = [], [], None
    for event in events:
        if event.get("event") == "active_loop" and event.get("name") in SUBMITS:
            if open_form and open_form != event["name"]:
                abandoned.append(open_form)
            if open_form != event["name"]:
                started.append(event["name"])
            open_form = event["name"]
        elif event.get("event") == "action" and open_form and event.get("name") == SUBMITS[open_form]:
            open_form = None
    if open_form:
        abandoned.append(open_form)
    return started, abandoned


def summarise(results: list[SessionResult]) -> dict[str, Any]:
    turns = sum(r.turns for r in results)
    handed = [r for r in results if r.handoff_turn]
    started = Counter(f for r in results for f in r.forms_started)
    abandoned = Counter(f for r in results for f in r.forms_abandoned)
    return {
        "sessions": len(results),
        "turns": turns,
        "handoff_sessions": len(handed),
        "handoff_rate": len(handed) / len(results) if results else 0.0,
        "handoff_after_turns": dict(sorted(Counter(r.handoff_turn for r in handed).items())),
        "handoff_reasons": dict(Counter(r.handoff_reason for r in handed).most_common()),
        "fallback_turns": sum(r.fallback_turns for r in results),
        "fallback_rate_per_turn": sum(r.fallback_turns for r in results) / turns if turns else 0.0,
        "forms_started": dict(started),
        "forms_abandoned": dict(abandoned),
        "errors": sum(r.errors for r in results),
        "traps": Counter(r.trap for r in handed).most_common(10),
        "top_lines_before_handoff": Counter(r.before_handoff for r in handed).most_common(15),
    }


def print_table(summary: dict[str, Any]) -> None:
    s = summary
    print("| measure | value |\n|---|---:|")
    print(f"| sessions replayed / buyer turns | {s['sessions']} / {s['turns']} |")
    print(f"| sessions handed to a person | {s['handoff_sessions']} ({s['handoff_rate']:.1%}) |")
    print(
        f"| handoff after turn (turn: sessions) | {', '.join(f'{k}: {v}' for k, v in s['handoff_after_turns'].items()) or '-'} |"
    )
    print(f"| handoff reasons | {', '.join(f'{k}: {v}' for k, v in s['handoff_reasons'].items()) or '-'} |")
    print(f"| turns answered with a fallback | {s['fallback_turns']} ({s['fallback_rate_per_turn']:.1%}) |")
    for form in SUBMITS:
        print(
            f"| {form} started / abandoned | {s['forms_started'].get(form, 0)} / {s['forms_abandoned'].get(form, 0)} |"
        )
    print(f"| errors (no answer within 60 s) | {s['errors']} |")
    print("\nMost common traps (form active / intent understood, at the handoff):")
    for trap, count in s["traps"]:
        print(f"  {count}× {trap}")
    print("\nMost common last lines before a handoff:")
    for text, count in s["top_lines_before_handoff"]:
        print(f"  {count}× {text}")


async def replay(
    sessions: list[tuple[str, list[str]]], gateway_url: str, rasa_url: str, database_url: str, deadline: float
) -> list[SessionResult]:
    results = []
    async with aiohttp.ClientSession() as http:
        for index, (session, lines) in enumerate(sessions):
            if time.monotonic() > deadline:
                print(f"Time is up after {index} sessions", file=sys.stderr)
                break
            results.append(await replay_one(http, gateway_url, rasa_url, database_url, index, session, lines))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model", type=Path, help="model to serve (default: train if stale, then the current one)")
    parser.add_argument("--minutes", type=float, default=20, help="stop replaying after this long")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not POOL.is_file():
        print(f"error: no pool of real buyers' lines at {POOL}", file=sys.stderr)
        return 2
    sessions = sample_sessions(POOL, args.sessions, args.seed)
    var_dir = Path(tempfile.mkdtemp(prefix="replay-"))
    url = f"sqlite:///{var_dir / 'shop.db'}"
    fresh_shop(url)
    env = service_env({
        "SHOP_VAR_DIR": str(var_dir), **{k: str(v) for k, v in stack_ports(1).items()},
        "RASA_PROCESSES": "1", "DATABASE_URL": url, "SHOP_SECRET": SECRET,
    })  # fmt: skip
    model = args.model or train_if_stale(env)
    processes = [action_server(env), *rasa_servers(model, env), gateway(env)]
    start_all(processes, timeout=180)
    s = settings(env)
    try:
        started = time.monotonic()
        results = asyncio.run(
            replay(sessions, f"http://127.0.0.1:{s.gateway_port}", s.rasa_url, url, started + args.minutes * 60)
        )
        seconds = time.monotonic() - started
    finally:
        stop_all(processes)
        db.dispose_all()
    summary = {"model": model.name, "seed": args.seed, "seconds": round(seconds, 1), **summarise(results)}
    print_table(summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"summary": summary, "sessions": [asdict(r) for r in results]}, ensure_ascii=False, indent=1),
        encoding="utf-8",
    )
    print(f"\nWrote {args.out} ({seconds:.0f} s of replay, model {model.name}, logs in {var_dir / 'logs'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
