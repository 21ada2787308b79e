"""Memory and start-up time of the processes that do no machine learning: the gateway and the supervisor.

Issue 10's targets: gateway ≤ 150 MB RSS and ready ≤ 1.5 s, supervisor (`python -m bot run`) ≤ 100 MB.
Both are measured as the real processes, started as `./shop run` starts them; a Rasa shard's
restart after `kill -9` is measured under the same supervisor. Used by scripts/benchmark.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import requests

from bot.processes import gateway, service_env
from bot.trainer import registry
from tests.live import stack_ports
from tests.trainer.project_copy import start_copy, stop_copy

GATEWAY_RSS_MB, GATEWAY_READY_S, SUPERVISOR_RSS_MB, RASA_BACK_S = 150, 1.5, 100, 30


def _status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def memory(pid: int) -> dict[str, float]:
    """This one process's resident memory now and at its peak (VmRSS, VmHWM), children not included."""
    return {"rss_mb": _status_mb(pid, "VmRSS"), "peak_rss_mb": _status_mb(pid, "VmHWM")}


def gateway_alone(var_dir: Path, database_url: str, starts: int = 3) -> dict[str, Any]:
    """Start the gateway on its own `starts` times: seconds from spawn to /health/live answering (each, and
    the median: the first start after a change also reads the code from disk), and its memory then."""
    env = service_env({"SHOP_VAR_DIR": str(var_dir), "DATABASE_URL": database_url, **_ports()})
    readies, figures = [], {}
    for _ in range(starts):
        process = gateway(env)
        started = time.monotonic()
        process.start()
        try:
            while not process.ready():
                if process.returncode() is not None or time.monotonic() - started > 60:
                    raise RuntimeError(f"the gateway did not start; see {process.log}")
                time.sleep(0.02)
            readies.append(round(time.monotonic() - started, 2))
            figures = memory(process.pid)
        finally:
            process.stop()
    return {"ready_seconds": statistics.median(readies), "ready_seconds_each": readies, **figures}


def supervised_run(scratch: Path, timeout: float = 300) -> dict[str, Any]:
    """`python -m bot run` (two Rasa shards, in a copy of the project serving the newest model, so nothing
    retrains): the supervisor's and the gateway's memory while serving, then seconds from `kill -9` of
    one Rasa shard to its answering again under the supervisor."""
    trained = registry.models()
    if not trained:
        raise SystemExit("No trained model in models/: run ./shop train first.")
    stack = start_copy(scratch, timeout=timeout, model=trained[0])
    try:
        children = _children(stack.process.pid)
        asyncio.run(_chat(stack.gateway_url, turns=10))  # memory while serving, not idle
        figures: dict[str, Any] = {
            "supervisor": memory(stack.process.pid),
            "gateway": memory(children["bot.web.gateway"]),
        }
        victim = stack.rasa_urls[-1]
        killed = time.monotonic()
        os.kill(children[f"bot.rasa_server:{victim.rsplit(':', 1)[1]}"], signal.SIGKILL)
        while not _answers(victim):
            if time.monotonic() - killed > 120:
                raise RuntimeError(f"the Rasa server was not back within 120 s; see {stack.log}")
            time.sleep(0.2)
        figures["rasa_back_seconds"] = round(time.monotonic() - killed, 1)
        figures["supervisor_after_restart"] = memory(stack.process.pid)
        return figures
    finally:
        stop_copy(stack)


async def _chat(gateway_url: str, turns: int) -> None:
    """A visitor's turns through the gateway's buyer socket, a second apart (the gateway's rate limit)."""
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{gateway_url}/ws/buyer?visitor=footprint01") as ws:
        for n in range(turns):
            text = ("在吗", "是正品吗", "什么时候发货")[n % 3]
            await ws.send_json({"type": "say", "text": text, "client_id": f"footprint-{n}"})
            while not ((m := await ws.receive_json(timeout=60))["type"] == "typing" and not m["on"]):
                pass
            await asyncio.sleep(1.1)


def _ports() -> dict[str, str]:
    return {name: str(port) for name, port in stack_ports(1).items()}


def _children(pid: int) -> dict[str, int]:
    """The supervisor's children by module: bot.web.gateway, rasa_sdk, bot.rasa_server:PORT for each shard."""
    found = {}
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    for child in out.split():
        words = Path(f"/proc/{child}/cmdline").read_bytes().decode().split("\0")
        module = words[words.index("-m") + 1] if "-m" in words else words[0]
        if module == "bot.rasa_server":
            module += ":" + words[words.index("--port") + 1]
        found[module] = int(child)
    return found


def _answers(rasa_url: str) -> bool:
    body = {"sender": f"footprint-{time.monotonic_ns()}", "message": "在吗"}
    try:
        response = requests.post(f"{rasa_url}/webhooks/rest/webhook", json=body, timeout=5)
        return response.status_code == 200 and bool(response.json())
    except requests.RequestException:
        return False


def target_rows(figures: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """(target, met, measured) for issue 10's targets."""
    alone, run = figures["gateway_alone"], figures["supervised_run"]
    return [
        (
            f"gateway ≤ {GATEWAY_RSS_MB} MB RSS, ready ≤ {GATEWAY_READY_S} s",
            run["gateway"]["rss_mb"] <= GATEWAY_RSS_MB and alone["ready_seconds"] <= GATEWAY_READY_S,
            f"{run['gateway']['rss_mb']:.0f} MB serving (peak {run['gateway']['peak_rss_mb']:.0f}), "
            f"ready {alone['ready_seconds']:.2f} s (median of {len(alone['ready_seconds_each'])} starts)",
        ),
        (
            f"supervisor ≤ {SUPERVISOR_RSS_MB} MB RSS",
            run["supervisor"]["peak_rss_mb"] <= SUPERVISOR_RSS_MB,
            f"{run['supervisor']['rss_mb']:.0f} MB (peak {run['supervisor']['peak_rss_mb']:.0f})",
        ),
        (
            f"a killed Rasa server answers again ≤ {RASA_BACK_S} s",
            run["rasa_back_seconds"] <= RASA_BACK_S,
            f"{run['rasa_back_seconds']:.1f} s after kill -9",
        ),
    ]


def measure() -> dict[str, Any]:
    """Both measurements, each on a fresh demo shop in a scratch directory."""
    from bot import db
    from tests.conftest import fresh_shop

    with tempfile.TemporaryDirectory(prefix="shop-footprint-") as scratch:
        url = f"sqlite:///{scratch}/shop.db"
        fresh_shop(url)
        try:
            figures = {"gateway_alone": gateway_alone(Path(scratch), url)}
        finally:
            db.dispose_all()
        figures["supervised_run"] = supervised_run(Path(scratch))
    return figures


if __name__ == "__main__":
    result = measure()
    print(json.dumps(result, indent=2))
    for target, met, measured in target_rows(result):
        print(f"{target}: {'met' if met else 'NOT MET'}: {measured}")
