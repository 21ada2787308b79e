"""`./shop run` keeps serving through a crash: the crashed process is restarted, the others carry on.

The live tests run the real `python -m bot run` in a copy of the project (tests/trainer/project_copy.py:
two Rasa shards, the action server and the gateway), `kill -9` its children and talk to it as buyers do,
over the gateway's WebSocket. The first tests use real short-lived processes to pin down the rules.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

from bot.processes import Process
from bot.supervision import CrashLoop, Supervisor
from bot.trainer import registry
from bot.web import rasa_outage
from tests.trainer.project_copy import CopyStack, start_copy, stop_copy

RASA_BACK_WITHIN = 30.0  # seconds from kill -9 to the shard's buyers being answered again (issue 10)


def _python_process(tmp_path: Path, name: str, code: str) -> Process:
    return Process(name, [sys.executable, "-c", code], "http://127.0.0.1:9/unused", tmp_path / f"{name}.log", {})


def _run_until(supervisor: Supervisor, done: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "supervisor did not get there in time"
        supervisor.check()
        time.sleep(0.05)


def test_a_crashed_process_is_restarted_and_the_others_are_left_alone(tmp_path: Path, caplog) -> None:
    steady = _python_process(tmp_path, "steady", "import time; time.sleep(60)")
    fragile = _python_process(tmp_path, "fragile", "import time; time.sleep(60)")
    for p in (steady, fragile):
        p.start()
    steady_pid, first_pid = steady.pid, fragile.pid
    supervisor = Supervisor([steady, fragile], first_backoff=0.1)
    try:
        with caplog.at_level(logging.INFO, logger="bot.supervisor"):
            os.kill(first_pid, signal.SIGKILL)
            _run_until(supervisor, lambda: fragile.pid != first_pid, timeout=10)
        assert fragile.returncode() is None, "restarted and running"
        assert steady.pid == steady_pid and steady.returncode() is None, "the other process was not touched"
        assert "The fragile stopped unexpectedly (killed by SIGKILL); restarting it in 0.1 s" in caplog.text
        assert f"Restarted the fragile (pid {fragile.pid})" in caplog.text
    finally:
        for p in (steady, fragile):
            p.stop()


def test_the_back_off_doubles_with_each_crash_and_a_crash_loop_ends_with_the_process_and_its_log(
    tmp_path: Path, caplog
) -> None:
    failing = _python_process(tmp_path, "failing", "raise SystemExit(3)")
    failing.start()
    supervisor = Supervisor([failing], first_backoff=0.1)
    with caplog.at_level(logging.INFO, logger="bot.supervisor"), pytest.raises(CrashLoop) as crash_loop:
        _run_until(supervisor, lambda: False, timeout=20)
    delays = [float(d) for d in re.findall(r"restarting it in ([\d.]+) s", caplog.text)]
    assert delays == [0.1, 0.2, 0.4, 0.8], "doubling, four restarts before the fifth crash ends it"
    message = str(crash_loop.value)
    assert "The failing stopped 5 times within 5 min (last: exit code 3)" in message
    assert str(tmp_path / "failing.log") in message


# --- the real product --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def running_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CopyStack]:
    trained = registry.models()
    if not trained:
        pytest.skip("No trained model in models/: run ./shop train first.")
    # The newest model serves: these tests never retrain, so it need not fit data edited meanwhile.
    stack = start_copy(tmp_path_factory.mktemp("supervised"), model=trained[0])
    yield stack
    stop_copy(stack)


def _children(stack: CopyStack) -> dict[str, int]:
    """pid of each process `./shop run` started, by role: 'actions', 'gateway', or a Rasa shard's URL."""
    pids = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(stack.process.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    found: dict[str, int] = {}
    for pid in pids:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # exited meanwhile
        words = [a.decode() for a in args]
        if "rasa_sdk" in words:
            found["actions"] = int(pid)
        elif "bot.web.gateway" in words:
            found["gateway"] = int(pid)
        elif "bot.rasa_server" in words:
            found[f"http://127.0.0.1:{words[words.index('--port') + 1]}"] = int(pid)
    return found


def _visitor_on(stack: CopyStack, shard: str) -> str:
    """A new anonymous visitor whose conversation lives on `shard` (as bot.config.Settings.rasa_for chooses)."""
    from bot.config import settings

    s = settings({"RASA_PORT": stack.rasa_urls[0].rsplit(":", 1)[1], "RASA_PROCESSES": str(len(stack.rasa_urls))})
    return next(v for v in (uuid.uuid4().hex[:12] for _ in range(1000)) if s.rasa_for(f"visitor-{v}") == shard)


async def _say(ws: aiohttp.ClientWebSocketResponse, text: str) -> dict[str, Any]:
    """One buyer message through the gateway: the bot's lines, or the gateway's error, once typing ends."""
    await ws.send_json({"type": "say", "text": text, "client_id": uuid.uuid4().hex})
    said, errors = [], []
    while True:
        message = await asyncio.wait_for(ws.receive_json(), 60)
        if message["type"] == "line" and message["line"]["sender"] == "bot":
            said.append(message["line"]["text"])
        elif message["type"] == "error":
            errors.append(message["message"])
        elif message["type"] == "typing" and not message["on"]:
            return {"answered": bool(said) and not errors, "text": "\n".join(said), "errors": errors}


async def _first_bot_line(ws: aiohttp.ClientWebSocketResponse) -> tuple[str, float]:
    """The next bot line's text and when it arrived."""
    while True:
        message = await ws.receive_json()
        if message["type"] == "line" and message["line"]["sender"] == "bot":
            return message["line"]["text"], time.monotonic()


def _log(stack: CopyStack) -> str:
    return stack.log.read_text(encoding="utf-8", errors="replace")


def test_a_killed_rasa_shard_is_restarted_while_the_other_shard_keeps_answering(running_shop: CopyStack) -> None:
    stack = running_shop
    victim, survivor = stack.rasa_urls[1], stack.rasa_urls[0]
    victim_pid = _children(stack)[victim]

    async def scenario() -> tuple[float, list[dict[str, Any]], list[int]]:
        async with aiohttp.ClientSession() as http:
            url = f"{stack.gateway_url}/ws/buyer?visitor="
            steady = await http.ws_connect(url + _visitor_on(stack, survivor))
            stranded = await http.ws_connect(url + _visitor_on(stack, victim))
            assert (await _say(stranded, "在吗"))["answered"], "both shards answer before the crash"
            killed_at = time.monotonic()
            os.kill(victim_pid, signal.SIGKILL)
            await asyncio.sleep(0.5)
            await stranded.send_json({"type": "say", "text": "能开发票吗", "client_id": uuid.uuid4().hex})
            answer = asyncio.create_task(_first_bot_line(stranded))  # kept by the gateway until the shard is back
            steady_turns, health = [], []
            while not answer.done():
                steady_turns.append(await _say(steady, "是正品吗"))
                async with http.get(f"{stack.gateway_url}/health") as response:
                    health.append(response.status)
                assert time.monotonic() - killed_at < RASA_BACK_WITHIN, "the killed shard is not back in time"
                # Under the gateway's per-socket rate limit (a burst of 10, then 1 a second): faster, a slow
                # restart would see the steady buyer's messages dropped as a flood.
                await asyncio.sleep(1.1)
            text, answered_at = answer.result()
            assert "发票" in text, text
            return answered_at - killed_at, steady_turns, health

    back_after, steady_turns, health = asyncio.run(scenario())
    assert back_after <= RASA_BACK_WITHIN
    assert steady_turns and all(t["answered"] and "正品" in t["text"] for t in steady_turns), steady_turns
    assert 503 in health, "/health said the shard was down while it was"
    assert _children(stack)[victim] != victim_pid, "a new Rasa process serves the shard"
    log = _log(stack)
    port = victim.rsplit(":", 1)[1]
    assert f"The Rasa server :{port} stopped unexpectedly (killed by SIGKILL); restarting it in 1.0 s" in log
    assert f"Restarted the Rasa server :{port}" in log
    assert f"The Rasa server :{port} is serving again" in log
    print(f"\nRasa shard {victim} answered its buyer again {back_after:.1f} s after kill -9")


def test_health_reports_every_component(running_shop: CopyStack) -> None:
    response = requests.get(f"{running_shop.gateway_url}/health", timeout=10)
    # The previous test's shard may still be settling; every component is up within a few seconds.
    deadline = time.monotonic() + 30
    while response.status_code != 200 and time.monotonic() < deadline:
        time.sleep(1)
        response = requests.get(f"{running_shop.gateway_url}/health", timeout=10)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok", body
    names = [c["name"] for c in body["components"]]
    assert names == ["rasa", "rasa", "action_server", "database"]
    assert [c["url"] for c in body["components"] if c["name"] == "rasa"] == list(running_shop.rasa_urls)
    assert all(c["ok"] for c in body["components"])
    assert requests.get(f"{running_shop.gateway_url}/health/live", timeout=10).status_code == 200


def test_a_buyer_of_a_restarting_shard_is_told_once_and_each_message_is_answered_once(
    running_shop: CopyStack,
) -> None:
    stack = running_shop
    victim = stack.rasa_urls[1]
    visitor = _visitor_on(stack, victim)
    said_while_down = ["是正品吗", "能开发票吗"]

    async def scenario() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"{stack.gateway_url}/ws/buyer?visitor={visitor}")
            assert (await _say(ws, "在吗"))["answered"]
            os.kill(_children(stack)[victim], signal.SIGKILL)
            await asyncio.sleep(0.5)  # the gateway's pooled connection to it is gone too
            for text in said_while_down:
                await ws.send_json({"type": "say", "text": text, "client_id": uuid.uuid4().hex})
                await asyncio.sleep(1.1)  # the gateway's per-socket rate limit
            seen: list[dict[str, Any]] = []
            deadline = time.monotonic() + RASA_BACK_WITHIN + 10
            while sum(1 for m in seen if m["type"] == "typing" and not m["on"]) < 1 + len(said_while_down):
                seen.append(await asyncio.wait_for(ws.receive_json(), max(deadline - time.monotonic(), 0.1)))
            await ws.close()
            return seen

    seen = asyncio.run(scenario())
    assert not [m for m in seen if m["type"] == "error"], seen
    lines = [m["line"] for m in seen if m["type"] == "line"]
    notices = [line for line in lines if line["sender"] == "system" and line["text"] == rasa_outage.NOTICE]
    assert len(notices) == 1, "told once, however many messages wait"
    after_notice = lines[lines.index(notices[0]) + 1 :]
    answers = [line["text"] for line in after_notice if line["sender"] == "bot"]
    assert answers and "正品" in answers[0] and "发票" in answers[-1], answers
    # Rasa saw every message exactly once, in order: none lost, none answered twice.
    tracker = requests.get(f"{victim}/conversations/visitor-{visitor}/tracker", timeout=30).json()
    assert [e["text"] for e in tracker["events"] if e["event"] == "user"] == ["在吗", *said_while_down]
    assert "holding the message until it is back" in (stack.root / "var" / "logs" / "gateway.log").read_text()


def test_a_crash_loop_stops_the_run_naming_the_process_and_its_log(running_shop: CopyStack) -> None:
    """Runs last in this module: it ends the shop the other tests used."""
    stack = running_shop
    for crash in range(1, 6):
        deadline = time.monotonic() + 60
        while (pid := _children(stack).get("actions")) is None:  # restarted after the back-off
            assert stack.process.poll() is None, _log(stack)[-2000:]
            assert time.monotonic() < deadline, f"the action server was not restarted after crash {crash - 1}"
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)  # let the supervisor see this crash before looking for the next process
    assert stack.process.wait(timeout=60) == 1, "a crash loop ends `./shop run` with exit code 1"
    log = _log(stack)
    assert "The action server stopped 5 times within 5 min (last: killed by SIGKILL)" in log
    assert f"See its log: {stack.root / 'var' / 'logs' / 'actions.log'}" in log
    for url in (stack.gateway_url + "/health/live", *(rasa + "/status" for rasa in stack.rasa_urls)):
        with pytest.raises(requests.ConnectionError):  # every other process was stopped, none left behind
            requests.get(url, timeout=5)
