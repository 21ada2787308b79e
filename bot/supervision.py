"""Keeping the product's processes up: what `./shop run` does once everything is ready.

A process that exits on its own (a crash, an out-of-memory kill, `kill -9`) is started
again after a back-off that doubles with each crash (1 s, 2 s, 4 s …), while every other
process keeps serving: the buyers of the other Rasa shards never notice. Only a crash
loop — the same process crashing `CRASH_LOOP` times within `CRASH_WINDOW` seconds —
ends the run, with a message naming the process and its log, because restarting it
further would only hide the cause from the operator.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.processes import Process

logger = logging.getLogger("bot.supervisor")

CRASH_LOOP = 5  # crashes of one process …
CRASH_WINDOW = 300.0  # … within this many seconds end the run
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
TICK = 0.5


def log_to_stderr() -> logging.Logger:
    """The supervisor's lines on stderr with a time stamp (operators read them later), nothing else's."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s - %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


class CrashLoop(RuntimeError):
    """A process kept crashing; the message names it and its log."""


def exit_reason(returncode: int) -> str:
    """`exit code 1` or `killed by SIGKILL`: how an operator would say it."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


@dataclass
class _Watch:
    process: Process
    crashes: deque[float] = field(default_factory=deque)
    restart_at: float | None = None  # when a crashed process is due to start again
    crashed_at: float | None = None  # set from a crash until the restarted process answers again


class Supervisor:
    """Watches started processes; restarts the crashed ones; raises CrashLoop on a crash loop."""

    def __init__(
        self,
        processes: Sequence[Process],
        crash_loop: int = CRASH_LOOP,
        crash_window: float = CRASH_WINDOW,
        first_backoff: float = FIRST_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.watches = [_Watch(p) for p in processes]
        self.crash_loop = crash_loop
        self.crash_window = crash_window
        self.first_backoff = first_backoff
        self.clock = clock

    def backoff(self, crashes: int) -> float:
        """Seconds to wait before restarting after the `crashes`-th crash in the window."""
        return min(self.first_backoff * 2 ** (crashes - 1), MAX_BACKOFF)

    def check(self) -> None:
        """One round: notice crashes, restart what is due, report what answers again."""
        now = self.clock()
        for watch in self.watches:
            process = watch.process
            if watch.restart_at is not None:
                if now >= watch.restart_at:
                    watch.restart_at = None
                    process.start()
                    logger.info("Restarted the %s (pid %s); log: %s", process.name, process.pid, process.log)
                continue
            code = process.returncode()
            if code is not None:
                self._crashed(watch, code, now)
            elif watch.crashed_at is not None and process.ready():
                logger.info("The %s is serving again, %.1f s after it stopped.", process.name, now - watch.crashed_at)
                watch.crashed_at = None

    def _crashed(self, watch: _Watch, code: int, now: float) -> None:
        process = watch.process
        watch.crashes.append(now)
        while watch.crashes and now - watch.crashes[0] > self.crash_window:
            watch.crashes.popleft()
        count = len(watch.crashes)
        if count >= self.crash_loop:
            raise CrashLoop(
                f"The {process.name} stopped {count} times within {self.crash_window / 60:.0f} min "
                f"(last: {exit_reason(code)}); stopping everything rather than restarting it again. "
                f"See its log: {process.log}"
            )
        delay = self.backoff(count)
        watch.restart_at = now + delay
        watch.crashed_at = watch.crashed_at or now  # a crash during a restart keeps the first crash's time
        logger.warning(
            "The %s stopped unexpectedly (%s); restarting it in %.1f s (crash %d of %d allowed within %.0f min). "
            "The other processes keep serving. Log: %s",
            process.name, exit_reason(code), delay, count, self.crash_loop - 1, self.crash_window / 60, process.log,
        )  # fmt: skip

    def run(self) -> None:
        """Supervise until interrupted (KeyboardInterrupt / SystemExit) or a crash loop (CrashLoop)."""
        while True:
            self.check()
            time.sleep(TICK)
