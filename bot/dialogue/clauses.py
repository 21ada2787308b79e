"""Two requests in one message: split a buyer's message into clauses and choose what to answer.

Buyers write 是正品吗？能包邮不 or 在吗 我要退货 运费谁出 and expect every question
answered, in order. The NLU gives one intent per message, so the message is cut
into clauses (punctuation, a space between two Chinese runs, connectors such as
还有/另外/顺便问下, a greeting glued to the front) and each clause is parsed too.
`plan` then decides, from those parses alone, which texts Rasa should handle as
consecutive buyer messages. Pure Python (no Rasa, no TensorFlow), so the rules are
unit-tested and shared by the REST channel and `scripts/two_requests.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from bot.config import PROJECT_ROOT

# Not requests: they never make a turn of their own when a real request is next to them.
COURTESY_INTENTS = frozenset({"greet", "thank", "goodbye"})
NOISE_INTENTS = COURTESY_INTENTS | {"affirm", "deny", "out_of_scope", "nlu_fallback"}
# An order number is a detail of the request next to it ("2611…，到哪了"), not a request.
DETAIL_INTENTS = frozenset({"inform_order_id"})


def _fallback_threshold() -> float:
    """Below this a clause's intent is a guess: the FallbackClassifier's threshold in config.yml."""
    config = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))
    return next(float(c["threshold"]) for c in config["pipeline"] if c["name"] == "FallbackClassifier")


FALLBACK_THRESHOLD = _fallback_threshold()
# A clause this sure of its request is split off even when the whole message is surer still
# (2611…，另外能开发票吗: the whole is a sure order number that hides the invoice question).
CONFIDENT = 0.8

_BREAK = r"[？?！!。，,；;～~\n]+"
_CJK = r"[\u3400-\u9fff]"
_CONNECTOR = r"(?:还有就是|还有|另外|顺便问一下|顺便问下|顺便问问|顺便|再问一下|再问下|然后|对了)"
_SPLIT = re.compile(rf"{_BREAK}|(?<={_CJK})\s+(?={_CJK})|\s*{_CONNECTOR}[，,、\s]*")
# While a form waits for an answer, spaces are part of it (浙江省杭州市…100号 王小明 139…).
_SPLIT_IN_FORM = re.compile(rf"{_BREAK}|\s*{_CONNECTOR}[，,、\s]*")
# A greeting glued to the question: 在吗我要退货, 亲这个有货吗, 你好请问是正品吗.
_LEADING_GREETING = re.compile(
    r"^(?:(?:亲亲|亲爱的|亲(?![子戚自手密身])|您好|你好|在吗|在不在|在么|有人吗|hi|hello|哈喽|嗨)[呀啊哦呢]?[\s，,～~!！]*)+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Clause:
    """A piece of the buyer's message: its span in the original text."""

    start: int
    end: int
    text: str


def split_clauses(text: str, in_form: bool = False) -> list[Clause]:
    """The message's clauses in order; one clause when there is nothing to split.

    `in_form`: a form is waiting for an answer, so spaces do not separate clauses.
    """
    if text.startswith("/"):
        return [Clause(0, len(text), text)]  # a button's payload, never split
    clauses: list[Clause] = []
    position = 0
    for match in [*(_SPLIT_IN_FORM if in_form else _SPLIT).finditer(text), None]:
        end = match.start() if match else len(text)
        clauses.extend(_peel_greeting(text, position, end))
        position = match.end() if match else len(text)
    return clauses or [Clause(0, len(text), text)]


def _peel_greeting(text: str, start: int, end: int) -> list[Clause]:
    """The clause text[start:end], with a greeting in front of it as a clause of its own."""
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return []
    start += piece.index(stripped)
    end = start + len(stripped)
    greeting = _LEADING_GREETING.match(stripped)
    if greeting and 0 < greeting.end() < len(stripped):
        cut = start + greeting.end()
        return [Clause(start, cut, text[start:cut].strip()), Clause(cut, end, text[cut:end])]
    return [Clause(start, end, stripped)]


@dataclass(frozen=True)
class Turn:
    """One buyer message for Rasa: the text and the intent it was planned for."""

    text: str
    intent: str | None
    confidence: float


def intent_of(parse: Mapping[str, Any]) -> tuple[str | None, float]:
    intent = parse.get("intent") or {}
    return intent.get("name"), float(intent.get("confidence") or 0.0)


def _is_request(parse: Mapping[str, Any], threshold: float) -> bool:
    name, confidence = intent_of(parse)
    return name is not None and name not in NOISE_INTENTS and confidence >= threshold


def plan(
    text: str,
    whole: Mapping[str, Any],
    clause_parses: list[tuple[Clause, Mapping[str, Any]]],
    threshold: float = FALLBACK_THRESHOLD,
    details: frozenset[str] = DETAIL_INTENTS,
) -> list[Turn]:
    """The messages Rasa should handle for `text`, in order (the text itself when it is one request).

    - Courtesy (greeting, thanks, goodbye) next to a request is dropped: 在吗 我要退货 → 我要退货.
    - Every other clause (yes/no, an order number unless `details` is empty because a
      form asks for one, an unsure guess) stays with the request
      before it, or the first one: "2611…，到哪了" stays one message.
    - Consecutive requests with the same intent are one request.
    - Two or more distinct requests become separate turns only when each is at least as
      confident as the whole message (or CONFIDENT), so one request said in two clauses stays whole.
    """
    name, confidence = intent_of(whole)
    unchanged = [Turn(text, name, confidence)]
    if len(clause_parses) < 2:
        return unchanged
    requests = [_is_request(p, threshold) and intent_of(p)[0] not in details for _, p in clause_parses]
    if not any(requests):
        return unchanged
    groups: list[_Group] = []
    for (clause, parse), is_request in zip(clause_parses, requests, strict=True):
        intent, clause_confidence = intent_of(parse)
        if not is_request:
            if intent in COURTESY_INTENTS:
                continue
            if not groups:
                groups.append(_Group(clause.start))
            groups[-1].end = clause.end
        elif groups and groups[-1].intent in (None, intent):
            groups[-1].take(intent, clause_confidence, clause.end)
        else:
            groups.append(_Group(clause.start))
            groups[-1].take(intent, clause_confidence, clause.end)
    turns = [Turn(text[g.start : g.end], g.intent, g.confidence) for g in groups]
    if len(turns) == 1:
        # Courtesy dropped around one request: answer the request, unless the whole
        # message was understood better as it stands.
        only = turns[0]
        if only.text != text and (name in NOISE_INTENTS or only.confidence >= confidence):
            return turns
        return unchanged
    if name not in NOISE_INTENTS and min(t.confidence for t in turns) < min(confidence, CONFIDENT):
        return unchanged
    return turns


@dataclass
class _Group:
    """Consecutive clauses that make one turn."""

    start: int
    end: int = 0
    intent: str | None = None
    confidence: float = 0.0

    def take(self, intent: str | None, confidence: float, end: int) -> None:
        self.intent, self.confidence, self.end = intent, max(self.confidence, confidence), end
