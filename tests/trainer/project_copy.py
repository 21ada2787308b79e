"""A running copy of the whole project, for tests that retrain: they rewrite data/nlu/*.yml and models/.

`start_copy` copies the repository (code, data, config; not .git, .venv, var/ or old
models) into a temporary directory, puts the current model in its models/ so the
first start needs no training, and runs `python -m bot run` there — the same command
`./shop run` ends in — on free ports with its own var/.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from bot.config import PROJECT_ROOT
from bot.processes import service_env
from bot.training import fingerprint, train_if_stale
from tests.live import stack_ports

_SKIP = shutil.ignore_patterns(".git", ".venv", "var", "models", "results", "__pycache__", ".pytest_cache", "docs")


@dataclass
class CopyStack:
    root: Path
    gateway_url: str
    rasa_urls: tuple[str, ...]  # every Rasa shard
    env: dict[str, str]
    process: subprocess.Popen
    log: Path

    def bot(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        """Run `python -m bot ARGS` inside the copy (the operator's CLI)."""
        return subprocess.run(
            [sys.executable, "-m", "bot", *args], cwd=self.root, env=self.env, input=stdin,
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip


def start_copy(tmp: Path, timeout: float = 300, model: Path | None = None) -> CopyStack:
    """Start the copy; with `model`, serve that trained model as if it fitted the copy's data (no training).

    Tests that never retrain use `model` so data edited meanwhile in the working tree costs no 5-minute training.
    """
    root = tmp / "shop"
    shutil.copytree(PROJECT_ROOT, root, ignore=_SKIP)
    (root / "models").mkdir()
    if model is None:
        model = train_if_stale(service_env())  # the real project's current model: same inputs, same fingerprint
        shutil.copy2(model, root / "models" / model.name)
    else:
        shutil.copy2(model, root / "models" / f"shop-{fingerprint(root)}.tar.gz")
    # The product's default two Rasa shards (consecutive ports), so activation must reach both.
    ports = {**stack_ports(2), "RASA_PROCESSES": 2}
    env = {
        **os.environ,
        **{k: str(v) for k, v in ports.items()},
        "SHOP_VAR_DIR": str(root / "var"),
        "PYTHONPATH": str(root),
        "RASA_TELEMETRY_ENABLED": "false",
    }
    for name in ("DATABASE_URL", "SHOP_MODE", "RASA_URL", "RASA_REPLICAS"):
        env.pop(name, None)
    log = tmp / "run.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=root, env=env,
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    stack = CopyStack(
        root,
        f"http://127.0.0.1:{ports['GATEWAY_PORT']}",
        tuple(f"http://127.0.0.1:{ports['RASA_PORT'] + i}" for i in range(2)),
        env,
        process,
        log,
    )
    started = time.monotonic()
    while b"Ready in" not in log.read_bytes():
        if process.poll() is not None or time.monotonic() - started > timeout:
            stop_copy(stack)
            raise RuntimeError(f"the project copy did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)
    return stack


def stop_copy(stack: CopyStack) -> None:
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGTERM)
        try:
            stack.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(stack.process.pid, signal.SIGKILL)


def add_trainer(stack: CopyStack, username: str, password: str) -> None:
    result = stack.bot("trainer-add", username, stdin=password + "\n")
    assert result.returncode == 0, result.stderr


def add_agent(stack: CopyStack, username: str, password: str) -> None:
    result = stack.bot("agent-add", username, stdin=password + "\n")
    assert result.returncode == 0, result.stderr


def trainer_session(stack: CopyStack, username: str, password: str) -> requests.Session:
    http = requests.Session()
    response = http.post(f"{stack.gateway_url}/api/trainer/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return http
