"""A terminal chat with the running bot, through the same REST channel a web page uses."""

from __future__ import annotations

import sys
import uuid

import requests

from bot.config import settings


def chat(buyer_id: str | None, conversation_id: str | None = None) -> int:
    sender = conversation_id or f"terminal-{uuid.uuid4().hex[:8]}"
    url = f"{settings().rasa_for(sender)}/webhooks/rest/webhook"
    metadata = {"buyer_id": buyer_id} if buyer_id else {}
    who = f"buyer {buyer_id}" if buyer_id else "an anonymous buyer"
    print(f"Chatting as {who} (conversation {sender}). Type a number to press a button, Ctrl-D to quit.")
    buttons: list[dict] = []
    for line in sys.stdin if not sys.stdin.isatty() else iter(lambda: input("你 > "), None):
        text = line.strip()
        if text.isdigit() and 0 < int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        try:
            replies = requests.post(url, json={"sender": sender, "message": text, "metadata": metadata}, timeout=60)
            replies.raise_for_status()
        except requests.RequestException as exc:
            print(f"error: the bot at {url} did not answer ({exc}). Is `./shop run` running?", file=sys.stderr)
            return 1
        buttons = []
        for reply in replies.json():
            if reply.get("text"):
                print(f"小棉 > {reply['text']}")
            for button in reply.get("buttons") or []:
                buttons.append(button)
                print(f"        [{len(buttons)}] {button['title']}")
    return 0
