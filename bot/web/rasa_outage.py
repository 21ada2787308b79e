"""Buyers' messages kept while their Rasa shard is down, answered in order once it is back.

Each conversation always goes to the same Rasa server (`Settings.rasa_for`); while that one
restarts (the supervisor brings it back within seconds), its buyers are told once, kindly,
that their messages are kept, and each kept message is sent when the shard answers again.
Only a message Rasa never received is kept — the connection was refused — so sending it
later cannot answer it twice; a message Rasa may have seen (a timeout, an HTTP error)
still gets the gateway's "please send it again". The messages themselves are already in
the transcript; what this process holds is only which of them still wait for Rasa.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

logger = logging.getLogger(__name__)

NOTICE = "亲，小棉正在重新连线，您的消息已经收到啦，马上按顺序回复您，请稍等一下～"
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class HeldMessage:
    buyer_id: str | None
    text: str
    ip: str | None


# Sends one held message to Rasa; False when Rasa still cannot be reached (the message stays first in line).
Ask = Callable[[HeldMessage], Awaitable[bool]]


class RasaBacklog:
    """Per conversation, the messages waiting for its Rasa server, and the task that sends them."""

    def __init__(self) -> None:
        self.waiting: dict[str, deque[HeldMessage]] = {}
        self._drains: dict[str, asyncio.Task[None]] = {}

    def holds(self, conversation_id: str) -> bool:
        """Earlier messages of this conversation still wait: a new one must queue behind them."""
        return bool(self.waiting.get(conversation_id))

    def keep(self, conversation_id: str, message: HeldMessage) -> bool:
        """Queue `message`; True when it is the first one waiting (the buyer has not been told yet)."""
        queue = self.waiting.setdefault(conversation_id, deque())
        queue.append(message)
        return len(queue) == 1

    def drain(self, conversation_id: str, rasa_url: str, client: aiohttp.ClientSession, ask: Ask) -> None:
        """Start sending this conversation's held messages once `rasa_url` answers (one task per conversation)."""
        if conversation_id not in self._drains:
            task = asyncio.create_task(self._drain(conversation_id, rasa_url, client, ask))
            self._drains[conversation_id] = task

    async def _drain(self, conversation_id: str, rasa_url: str, client: aiohttp.ClientSession, ask: Ask) -> None:
        queue = self.waiting[conversation_id]
        try:
            while queue:
                await _until_up(rasa_url, client)
                if await ask(queue[0]):
                    queue.popleft()
            logger.info("Answered the held messages of %s: its Rasa server %s is back", conversation_id, rasa_url)
        finally:
            self._drains.pop(conversation_id, None)
            if not queue:
                self.waiting.pop(conversation_id, None)

    async def stop(self) -> None:
        """The gateway is stopping: what still waits stays in the transcript, unanswered."""
        for task in list(self._drains.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if held := sum(len(q) for q in self.waiting.values()):
            logger.warning("Stopping with %d buyer message(s) still waiting for Rasa (kept in the transcript)", held)


async def _until_up(rasa_url: str, client: aiohttp.ClientSession) -> None:
    while True:
        try:
            async with client.get(f"{rasa_url}/status", timeout=aiohttp.ClientTimeout(total=2)) as response:
                if response.status == 200:
                    return
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass
        await asyncio.sleep(POLL_SECONDS)
