"""A running copy of the product for conversation tests: real action server, real Rasa."""

from __future__ import annotations

import socket
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bot.config import Settings, settings
from bot.processes import Process, action_server, gateway, rasa_servers, service_env, start_all, stop_all
from bot.training import train_if_stale


def free_port(avoid: Collection[int] = ()) -> int:
    """A port nobody listens on now and not in `avoid` (ports already promised to another server)."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            return port
    raise RuntimeError("no free port")


def stack_ports(rasa_processes: int) -> dict[str, int]:
    """RASA_PORT (the first of `rasa_processes` consecutive ports), ACTION_PORT and GATEWAY_PORT, all distinct.

    The OS readily hands out the port just after a Rasa block as "free" while the last Rasa
    server has not bound it yet, so the later picks avoid the whole block.
    """
    rasa = free_ports(rasa_processes)
    promised = set(range(rasa, rasa + rasa_processes))
    ports = {"RASA_PORT": rasa}
    for name in ("ACTION_PORT", "GATEWAY_PORT"):
        ports[name] = free_port(promised)
        promised.add(ports[name])
    return ports


def free_ports(count: int) -> int:
    """The first of `count` consecutive free ports (Rasa servers take consecutive ports)."""
    for _ in range(100):
        first = free_port()
        if count == 1 or all(_free(first + i) for i in range(1, count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except (OSError, OverflowError):  # taken, or beyond 65535
            return False
        return True


@dataclass
class Stack:
    rasa_url: str  # the first Rasa server (the only one unless RASA_PROCESSES > 1)
    processes: list[Process]  # the action server, every Rasa server, then the gateway if any
    startup_seconds: float
    gateway_url: str | None = None
    settings: Settings | None = None

    def rasa_for(self, sender: str) -> str:
        """The Rasa server of a conversation, chosen as every part of the product chooses it."""
        return self.settings.rasa_for(sender) if self.settings else self.rasa_url

    @property
    def rasa_processes(self) -> list[Process]:
        return [p for p in self.processes if p.name.startswith("Rasa server")]

    def say(self, sender: str, text: str, buyer: str | None = None) -> list[dict[str, Any]]:
        """Send one buyer message; the bot's replies (possibly none)."""
        body: dict[str, Any] = {"sender": sender, "message": text}
        if buyer:
            body["metadata"] = {"buyer_id": buyer}
        response = requests.post(f"{self.rasa_for(sender)}/webhooks/rest/webhook", json=body, timeout=60)
        response.raise_for_status()
        return response.json()

    def tracker(self, sender: str) -> dict[str, Any]:
        return requests.get(f"{self.rasa_for(sender)}/conversations/{sender}/tracker", timeout=30).json()


def start_stack(var_dir: Path, overrides: dict[str, str], with_gateway: bool = False) -> Stack:
    """Start the action server and Rasa (and the gateway) on free ports with `overrides`.

    One Rasa server unless `overrides` set RASA_PROCESSES (fewer processes start faster).
    """
    processes_wanted = int(overrides.get("RASA_PROCESSES", "1"))
    env = service_env(
        {
            "SHOP_VAR_DIR": str(var_dir),
            **{name: str(port) for name, port in stack_ports(processes_wanted).items()},
            "RASA_PROCESSES": str(processes_wanted),
            **overrides,
        }
    )
    model = train_if_stale(env)
    processes = [action_server(env), *rasa_servers(model, env)] + ([gateway(env)] if with_gateway else [])
    seconds = start_all(processes, timeout=180)
    s = settings(env)
    gateway_url = f"http://127.0.0.1:{s.gateway_port}" if with_gateway else None
    return Stack(s.rasa_url, processes, seconds, gateway_url, s)


def stop_stack(stack: Stack) -> None:
    stop_all(stack.processes)


def texts(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def buttons(replies: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [b for r in replies for b in r.get("buttons") or []]
