"""Retraining in the background for the trainers' console.

A job is `python -m bot retrain --json` in its own process: training and evaluation
load TensorFlow and take minutes, and the gateway must keep serving buyers meanwhile
(as must the Rasa server, which keeps the old model until the gate passes). The job
reads the JSON progress lines; the console polls `snapshot()`. One job at a time; the
last finished one is kept on disk so a restarted gateway still shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import PROJECT_ROOT
from bot.trainer.pipeline import PHASES, reports_dir

logger = logging.getLogger(__name__)
LOG_LINES = 200


class JobRunning(RuntimeError):
    pass


@dataclass
class Job:
    id: str
    started_at: str
    state: str = "running"  # running | finished
    phase: str = "validate"
    percent: int = 0
    finished_at: str | None = None
    log: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    result: dict[str, Any] | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id, "state": self.state, "phase": self.phase, "phase_label": PHASES.get(self.phase, self.phase),
            "percent": self.percent, "started_at": self.started_at, "finished_at": self.finished_at,
            "log": list(self.log), "result": self.result,
        }  # fmt: skip

    def apply(self, event: dict[str, Any]) -> None:
        """One line of `retrain --json` output."""
        if "result" in event:
            self.result = event["result"]
            return
        self.phase = str(event.get("phase", self.phase))
        self.percent = int(event.get("percent", self.percent))
        if "log" in event:
            self.log.append(str(event["log"]))


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


class TrainingJobs:
    def __init__(self, last_job_file: Path | None = None) -> None:
        self.last_job_file = last_job_file or reports_dir() / "last-job.json"
        self.current: Job | None = None
        self._task: asyncio.Task[None] | None = None

    def latest(self) -> dict[str, Any] | None:
        if self.current is not None:
            return self.current.snapshot()
        try:
            return json.loads(self.last_job_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def start(self) -> Job:
        if self.current is not None and self.current.state == "running":
            raise JobRunning(self.current.id)
        self.current = Job(uuid.uuid4().hex[:12], _now())
        self._task = asyncio.create_task(self._run(self.current))
        return self.current

    async def _run(self, job: Job) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "retrain", "--json",
            cwd=PROJECT_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert process.stdout is not None
        try:
            async for raw in process.stdout:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    event = None
                if isinstance(event, dict):
                    job.apply(event)
                else:
                    job.log.append(line)  # warnings and tracebacks the pipeline did not catch
            code = await process.wait()
        except asyncio.CancelledError:
            process.terminate()  # the gateway is stopping: do not leave a training behind
            await process.wait()
            raise
        if job.result is None:
            job.result = {
                "outcome": "failed", "message": "训练进程意外退出，线上模型不变。",
                "reasons": [f"python -m bot retrain exited with code {code} without a result; see the log"],
                "candidate": None, "serving": None, "report": None, "confusion": None,
            }  # fmt: skip
        job.state, job.finished_at, job.phase = "finished", _now(), "done"
        job.percent = 100
        logger.info("Retrain job %s finished: %s", job.id, job.result.get("outcome"))
        try:
            self.last_job_file.parent.mkdir(parents=True, exist_ok=True)
            self.last_job_file.write_text(json.dumps(job.snapshot(), ensure_ascii=False), encoding="utf-8")
        except OSError as exc:
            logger.warning("Could not keep the last retrain job in %s: %s", self.last_job_file, exc)

    async def stop(self) -> None:
        if self._task and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
