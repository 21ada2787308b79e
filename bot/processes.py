"""Starting the product's processes (action server, Rasa server) with one environment.

Embedded mode (default): shop data and conversations in SQLite files under var/,
locks in memory. Production mode (SHOP_MODE=production): DATABASE_URL names the
PostgreSQL database for both, REDIS_URL the Redis lock store.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import requests

from bot.config import PROJECT_ROOT, settings


def production(env: Mapping[str, str] = os.environ) -> bool:
    return env.get("SHOP_MODE", "embedded") == "production"


def service_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every process of the product runs with (this one's + overrides)."""
    env = {**os.environ, **(overrides or {})}
    s = settings(env)
    env.update(
        RASA_TELEMETRY_ENABLED="false",  # no phoning home: the servers may be air-gapped
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=str(PROJECT_ROOT),
        DATABASE_URL=s.database_url,
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{s.action_port}/webhook",
        TRACKER_SQLITE_PATH=str(s.var_dir / "conversations.db"),
    )
    if production(env):
        db = urlparse(s.database_url)
        if not db.scheme.startswith("postgresql"):
            raise SystemExit("SHOP_MODE=production needs DATABASE_URL=postgresql://user@host:port/db")
        redis = urlparse(env.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
        env.update(
            TRACKER_DB_HOST=db.hostname or "127.0.0.1",
            TRACKER_DB_PORT=str(db.port or 5432),
            TRACKER_DB_NAME=db.path.lstrip("/"),
            TRACKER_DB_USER=db.username or "postgres",
            TRACKER_DB_PASSWORD=db.password or "",
            REDIS_HOST=redis.hostname or "127.0.0.1",
            REDIS_PORT=str(redis.port or 6379),
            REDIS_DB=(redis.path.lstrip("/") or "0"),
            REDIS_KEY_PREFIX=env.get("REDIS_KEY_PREFIX", "shop"),
        )
    return env


def endpoints_file(env: Mapping[str, str]) -> Path:
    return PROJECT_ROOT / ("endpoints.production.yml" if production(env) else "endpoints.yml")


@dataclass
class Process:
    name: str
    command: list[str]
    ready_url: str
    log: Path
    env: Mapping[str, str]
    popen: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as handle:  # the child keeps its own copy; a restart must not leak ours
            self.popen = subprocess.Popen(
                self.command, cwd=PROJECT_ROOT, env=dict(self.env), stdout=handle, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def returncode(self) -> int | None:
        """None while running; how it ended otherwise (negative: killed by that signal)."""
        return self.popen.poll() if self.popen else None

    def ready(self) -> bool:
        try:
            return requests.get(self.ready_url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()


def action_server(env: Mapping[str, str]) -> Process:
    s = settings(env)
    port = s.action_port
    return Process(
        "action server",
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        f"http://127.0.0.1:{port}/health",
        s.var_dir / "logs" / "actions.log",
        env,
    )


def rasa_servers(model: Path, env: Mapping[str, str]) -> list[Process]:
    """Every Rasa server of this environment: one per shard, on consecutive ports from RASA_PORT.

    Embedded mode runs RASA_PROCESSES of them (default 2) sharing the SQLite tracker
    file; `Settings.rasa_for` sends each conversation to always the same one.
    """
    s = settings(env)
    return [rasa_server(model, env, s.rasa_port + index) for index in range(len(s.rasa_shards))]


def rasa_server(model: Path, env: Mapping[str, str], port: int | None = None) -> Process:
    s = settings(env)
    port = port or s.rasa_port
    return Process(
        f"Rasa server :{port}" if len(s.rasa_shards) > 1 else "Rasa server",
        [
            sys.executable,
            "-m",
            "bot.rasa_server",
            "run",
            "--model",
            str(model),
            "--port",
            str(port),
            "--interface",
            "127.0.0.1",
            "--enable-api",
            "--endpoints",
            str(endpoints_file(env)),
            "--credentials",
            str(PROJECT_ROOT / "credentials.yml"),
        ],  # fmt: skip
        f"http://127.0.0.1:{port}/status",
        s.var_dir / "logs" / f"rasa-{port}.log",
        env,
    )


def gateway(env: Mapping[str, str]) -> Process:
    s = settings(env)
    return Process(
        "chat gateway",
        [sys.executable, "-m", "bot.web.gateway", "--port", str(s.gateway_port)],
        # Liveness: the process answers. /health itself also reports Rasa and the database (bot.web.health).
        f"http://127.0.0.1:{s.gateway_port}/health/live",
        s.var_dir / "logs" / "gateway.log",
        env,
    )


def start_all(processes: list[Process], timeout: float = 120) -> float:
    """Start the processes and wait until every one answers; returns seconds taken."""
    started = time.monotonic()
    for process in processes:
        process.start()
    pending = list(processes)
    while pending:
        for process in list(pending):
            if process.popen and process.popen.poll() is not None:
                stop_all(processes)
                raise SystemExit(f"The {process.name} exited during start-up; see {process.log}")
            if process.ready():
                print(f"  {process.name} is ready ({time.monotonic() - started:.1f} s)", flush=True)
                pending.remove(process)
        if time.monotonic() - started > timeout:
            stop_all(processes)
            raise SystemExit(f"Not ready after {timeout:.0f} s: {', '.join(p.name for p in pending)}")
        time.sleep(0.3)
    return time.monotonic() - started


def stop_all(processes: list[Process]) -> None:
    for process in reversed(processes):
        process.stop()
