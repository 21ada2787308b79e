"""How often both requests of a two-request message are understood, with and without clause splitting.

Reads a TSV with a header naming at least `text`, `intent` and `secondary` (e.g.
data/real_buyers/labels.tsv) and, for the lines that have a secondary intent,
compares what the bot acts on:
- today: the whole message, one intent;
- clauses: the turns `bot.dialogue.rest_channel` plans (the same code the REST channel runs).
A line counts as "both understood" when the primary and then the secondary intent are
among the intents acted on, in that order.

    .venv/bin/python scripts/two_requests.py [data/real_buyers/labels.tsv] [--model models/shop-….tar.gz]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.config import PROJECT_ROOT
from bot.dialogue.rest_channel import planned_turns
from bot.training import model_path

DEFAULT_LABELS = PROJECT_ROOT / "data" / "real_buyers" / "labels.tsv"


@dataclass(frozen=True)
class Line:
    text: str
    intent: str
    secondary: str


def read_lines(path: Path) -> list[Line]:
    """The labelled lines with a secondary intent (skipped lines left out)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    if rows and not {"text", "intent", "secondary"} <= set(rows[0]):
        raise SystemExit(f"{path} needs the columns text, intent and secondary; it has {', '.join(rows[0])}")
    return [
        Line(r["text"].strip(), r["intent"].strip(), r["secondary"].strip())
        for r in rows
        if (r.get("secondary") or "").strip() and r["intent"].strip() not in ("", "skip")
    ]


def in_order(acted: list[str | None], first: str, second: str) -> bool:
    """`first` and then `second` among the intents acted on (the same intent twice needs two turns)."""
    try:
        at = acted.index(first)
    except ValueError:
        return False
    return second in acted[at + 1 :]


async def measure(lines: list[Line], model: Path) -> dict[str, object]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    rows = []
    for line in lines:
        whole = await agent.parse_message(line.text)
        today = [whole["intent"]["name"]]
        clauses = [turn.intent for turn in await planned_turns(agent, line.text)]
        rows.append(
            {"text": line.text, "intent": line.intent, "secondary": line.secondary, "today": today, "clauses": clauses}
        )

    def share(key: str, test: object) -> float:
        return sum(1 for r in rows if test(r[key], r)) / len(rows) if rows else 0.0  # type: ignore[operator]

    both = lambda acted, r: in_order(acted, r["intent"], r["secondary"])  # noqa: E731
    primary_first = lambda acted, r: bool(acted) and acted[0] == r["intent"]  # noqa: E731
    primary_any = lambda acted, r: r["intent"] in acted  # noqa: E731
    return {
        "model": model.name,
        "lines": len(rows),
        "today": {
            "both": share("today", both),
            "primary_first": share("today", primary_first),
            "primary_any": share("today", primary_any),
        },
        "clauses": {
            "both": share("clauses", both),
            "primary_first": share("clauses", primary_first),
            "primary_any": share("clauses", primary_any),
        },
        "split": sum(1 for r in rows if len(r["clauses"]) > 1),
        "rows": rows,
    }


def print_table(result: dict) -> None:
    print(
        f"{result['lines']} lines with a secondary intent; model {result['model']}; split into 2+ turns: {result['split']}"
    )
    print(f"| {'behaviour':<28} | both understood, in order | primary acted on first | primary acted on at all |")
    print(f"|{'-' * 30}|--------------------------:|-----------------------:|------------------------:|")
    for key, label in (("today", "today (one intent a message)"), ("clauses", "clauses (this channel)")):
        m = result[key]
        print(f"| {label:<28} | {m['both']:>25.1%} | {m['primary_first']:>22.1%} | {m['primary_any']:>23.1%} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels", nargs="?", type=Path, default=DEFAULT_LABELS)
    parser.add_argument("--model", type=Path, help="model to load (default: the one trained from the current data)")
    parser.add_argument("--json", type=Path, help="also write every line's result here")
    args = parser.parse_args(argv)
    if not args.labels.is_file():
        print(f"error: no labels file at {args.labels}", file=sys.stderr)
        return 2
    model = args.model or model_path()
    if not model.is_file():
        print(f"error: no model at {model}; train one with `.venv/bin/python -m bot train`", file=sys.stderr)
        return 2
    lines = read_lines(args.labels)
    if not lines:
        print(f"error: no line in {args.labels} has a secondary intent", file=sys.stderr)
        return 2
    result = asyncio.run(measure(lines, model))
    print_table(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
