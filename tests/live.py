"""A running copy of the product for conversation tests: real action server, real Rasa."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bot.config import settings
from bot.processes import Process, action_server, gateway, rasa_server, service_env, start_all, stop_all
from bot.training import train_if_stale


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    rasa_url: str
    processes: list[Process]
    startup_seconds: float
    gateway_url: str | None = None

    def say(self, sender: str, text: str, buyer: str | None = None) -> list[dict[str, Any]]:
        """Send one buyer message; the bot's replies (possibly none)."""
        body: dict[str, Any] = {"sender": sender, "message": text}
        if buyer:
            body["metadata"] = {"buyer_id": buyer}
        response = requests.post(f"{self.rasa_url}/webhooks/rest/webhook", json=body, timeout=60)
        response.raise_for_status()
        return response.json()

    def tracker(self, sender: str) -> dict[str, Any]:
        return requests.get(f"{self.rasa_url}/conversations/{sender}/tracker", timeout=30).json()


def start_stack(var_dir: Path, overrides: dict[str, str], with_gateway: bool = False) -> Stack:
    """Start the action server and Rasa (and the gateway) on free ports with `overrides`."""
    env = service_env(
        {
            "SHOP_VAR_DIR": str(var_dir),
            "ACTION_PORT": str(free_port()),
            "RASA_PORT": str(free_port()),
            "GATEWAY_PORT": str(free_port()),
            **overrides,
        }
    )
    model = train_if_stale(env)
    processes = [action_server(env), rasa_server(model, env)] + ([gateway(env)] if with_gateway else [])
    seconds = start_all(processes, timeout=180)
    s = settings(env)
    return Stack(s.rasa_url, processes, seconds, f"http://127.0.0.1:{s.gateway_port}" if with_gateway else None)


def stop_stack(stack: Stack) -> None:
    stop_all(stack.processes)


def texts(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def buttons(replies: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [b for r in replies for b in r.get("buttons") or []]
