"""The labelled real-buyer corpus: from the auditable label file to training and test files.

`data/real_buyers/labels.tsv` is the one place a real buyer's line and its label live (text, source,
session, intent, secondary intent, note, who labelled it and how it was checked). `build` splits it by
session, never by line, into

  data/nlu/real/<source>.yml          training examples (Rasa NLU YAML, generated: edit the labels, not these)
  tests/nlu/real_buyers_test.yml      the real-buyer test set, never trained on

Skipped lines go nowhere. Training without the real examples (their licence is research-only, see
data/real_buyers/README.md) is `SHOP_REAL_BUYERS=0` (bot.training).

    python -m bot.trainer.corpus build      # rewrite the generated files from labels.tsv
    python -m bot.trainer.corpus check      # fail if the generated files are out of date
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from bot.config import PROJECT_ROOT
from bot.trainer.examples import example_key, is_near_copy, read_domain, yaml_examples

LABELS = PROJECT_ROOT / "data" / "real_buyers" / "labels.tsv"
TRAIN_DIR = PROJECT_ROOT / "data" / "nlu" / "real"
TEST_SET = PROJECT_ROOT / "tests" / "nlu" / "real_buyers_test.yml"
COLUMNS = ["id", "text", "source", "session", "intent", "secondary", "note", "labelled_by", "checked", "chosen"]
SKIP = "skip"
# The test set is drawn from sessions whose every labelled line was chosen at random, or was labelled in the
# last round that took every chat line left (`remainder`): such a session is a random sample of what buyers
# send, or all of it. Lines chosen because the model was unsure, or for a rare intent, make it too hard and
# only train (or top up a rare intent's test lines).
REPRESENTATIVE = frozenset({"random", "remainder"})
TEST_SHARE = 0.3  # of those sessions: about 3,200 test lines
MIN_TEST_PER_INTENT = 15
# Rasa reads "[words](entity)" inside examples as an annotation; a buyer's brackets are only text.
_ANNOTATION_LIKE = re.compile(r"[\[\]{}]")


@dataclass(frozen=True)
class Label:
    id: str
    text: str
    source: str
    session: str
    intent: str
    secondary: str
    note: str
    labelled_by: str
    checked: str
    chosen: str  # why the line was picked for labelling: random, uncertain, targeted:<intent>


def read_labels(path: Path = LABELS) -> list[Label]:
    """Every row of the label file; ValueError naming the row when one is malformed."""
    intents = set(read_domain(PROJECT_ROOT / "domain.yml")[0])
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header != COLUMNS:
            raise ValueError(f"{path}: expected the header {'<TAB>'.join(COLUMNS)}, got {header}")
        rows = []
        for n, fields in enumerate(reader, 2):
            if len(fields) != len(COLUMNS):
                raise ValueError(f"{path}, line {n}: expected {len(COLUMNS)} tab-separated fields, got {len(fields)}")
            label = Label(*fields)
            if label.intent not in intents | {SKIP}:
                raise ValueError(f"{path}, line {n}: unknown intent {label.intent!r}")
            if label.secondary and label.secondary not in intents:
                raise ValueError(f"{path}, line {n}: unknown secondary intent {label.secondary!r}")
            rows.append(label)
    return rows


def _bucket(session: str) -> float:
    """A stable number in [0, 1) per session: the same session always lands on the same side."""
    return zlib.crc32(session.encode("utf-8")) / 2**32


def split(labels: list[Label], hand_written: set[str], held_out: list[str] = ()) -> tuple[list[Label], list[Label]]:
    """(train, test) by session: a share of the randomly chosen sessions, then for rare intents whole other
    sessions moved into the test set until each has enough.

    A real line that is also a hand-written example (在吗, 谢谢 …) goes into neither file: both test sets
    must stay held out from every training example.
    """
    usable = [label for label in labels if label.intent != SKIP]
    sessions: dict[str, list[Label]] = defaultdict(list)
    for label in usable:
        sessions[label.session].append(label)
    order = sorted(sessions, key=_bucket)
    representative = {s for s in order if all(label.chosen in REPRESENTATIVE for label in sessions[s])}
    in_test = {s for s in representative if _bucket(s) < TEST_SHARE}

    def testable(label: Label) -> bool:
        return example_key(label.text) not in hand_written

    counts = Counter(label.intent for s in in_test for label in sessions[s] if testable(label))
    available = Counter(label.intent for label in usable if testable(label))
    for intent in sorted(available):
        # Where the pool has few lines of an intent, about half of them test it.
        want = min(MIN_TEST_PER_INTENT, available[intent] // 2)
        for s in order:
            if counts[intent] >= want:
                break
            if s not in in_test and any(label.intent == intent and testable(label) for label in sessions[s]):
                in_test.add(s)
                counts.update(label.intent for label in sessions[s] if testable(label))
    # Nor may a training line be a near copy of a self-written test message (`held_out` keys).
    train = [
        label
        for label in usable
        if label.session not in in_test
        and testable(label)
        and not any(is_near_copy(test_key, example_key(label.text)) for test_key in held_out)
    ]
    test = [label for label in usable if label.session in in_test and testable(label)]
    return train, test


def _clean(text: str) -> str:
    return _ANNOTATION_LIKE.sub(lambda m: {"[": "【", "]": "】", "{": "（", "}": "）"}[m[0]], text)


def _yaml(labels: list[Label], header: str) -> str:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for label in labels:
        by_intent[label.intent].append(_clean(label.text))
    out = [header.rstrip(), 'version: "3.1"', "", "nlu:"]
    for intent in sorted(by_intent):
        out += [f"- intent: {intent}", "  examples: |"] + [f"    - {text}" for text in by_intent[intent]]
    return "\n".join(out) + "\n"


_TRAIN_HEADER = """\
# GENERATED by `python -m bot.trainer.corpus build` from data/real_buyers/labels.tsv: edit the labels, not this.
# Real buyers' messages from {source} (research data, not for commercial use: see data/real_buyers/README.md).
# Train without them: SHOP_REAL_BUYERS=0.
"""
_TEST_HEADER = """\
# GENERATED by `python -m bot.trainer.corpus build` from data/real_buyers/labels.tsv: edit the labels, not this.
# The real-buyer test set: real messages (see data/real_buyers/README.md), split from the training lines by
# session. Never train on it.
"""


def _source_file(source: str) -> str:
    """data/nlu/real/<group>.yml: one file per corpus (JDDC's revisions and sheets share one)."""
    return source.split("_")[0].split("20")[0].lower() or "other"


def generated(train: list[Label], test: list[Label]) -> dict[Path, str]:
    """The generated files' paths and contents."""
    files: dict[Path, str] = {}
    groups: dict[str, list[Label]] = defaultdict(list)
    for label in train:
        groups[_source_file(label.source)].append(label)
    for group, members in sorted(groups.items()):
        sources = ", ".join(sorted({label.source for label in members}))
        files[TRAIN_DIR / f"{group}.yml"] = _yaml(members, _TRAIN_HEADER.format(source=sources))
    files[TEST_SET] = _yaml(test, _TEST_HEADER)
    return files


def hand_written_keys() -> set[str]:
    """Keys of the hand-written examples: data/nlu/*.yml and the self-written test set (not the generated files).

    A real line with one of these keys is used already (or held out), so it goes into neither generated file.
    """
    keys = set()
    for path in [
        *sorted((PROJECT_ROOT / "data" / "nlu").glob("*.yml")),
        PROJECT_ROOT / "tests" / "nlu" / "test_nlu.yml",
    ]:
        keys |= {example_key(text) for _, text in yaml_examples(path.read_text(encoding="utf-8"), path.name)}
    return keys


def self_written_test_keys() -> list[str]:
    path = PROJECT_ROOT / "tests" / "nlu" / "test_nlu.yml"
    return [example_key(text) for _, text in yaml_examples(path.read_text(encoding="utf-8"), path.name)]


def build(check_only: bool = False) -> int:
    labels = read_labels()
    train, test = split(labels, hand_written_keys(), self_written_test_keys())
    files = generated(train, test)
    stale = [p for p, content in files.items() if not p.exists() or p.read_text(encoding="utf-8") != content]
    stale += [p for p in TRAIN_DIR.glob("*.yml") if p not in files]
    if check_only:
        for path in stale:
            print(f"out of date: {path.relative_to(PROJECT_ROOT)} (run: python -m bot.trainer.corpus build)")
        return 1 if stale else 0
    TRAIN_DIR.mkdir(parents=True, exist_ok=True)
    for path in TRAIN_DIR.glob("*.yml"):
        if path not in files:
            path.unlink()
    for path, content in files.items():
        path.write_text(content, encoding="utf-8")
    skipped = sum(label.intent == SKIP for label in labels)
    print(f"{len(labels)} labelled lines: {len(train)} train, {len(test)} test, {skipped} skipped")
    per_intent = Counter(label.intent for label in test)
    print("test lines per intent: " + ", ".join(f"{i} {n}" for i, n in sorted(per_intent.items())))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.trainer.corpus", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["build", "check"])
    args = parser.parse_args(argv)
    try:
        return build(check_only=args.command == "check")
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
