"""How well trainers agree when two of them labelled the same inbox line: raw agreement and Cohen's kappa.

Low agreement means the intents are unclear to people, not only to the bot: worth a talk before more labelling.
A label is the intent chosen (for training or the test set alike) or "skip" for a dismissed line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations

from bot.models import InboxLabel

SKIP = "skip"


def label_value(decision: str, intent: str | None) -> str:
    return SKIP if decision == "dismissed" or not intent else intent


def cohen_kappa(first: list[str], second: list[str]) -> float | None:
    """Agreement beyond chance between two raters' labels of the same items; None when chance explains all of it."""
    n = len(first)
    if n == 0 or n != len(second):
        return None
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    a_counts, b_counts = Counter(first), Counter(second)
    expected = sum(a_counts[label] * b_counts[label] for label in a_counts) / (n * n)
    if expected >= 1.0:  # both gave one and the same label to everything: kappa is undefined
        return None
    return (observed - expected) / (1.0 - expected)


@dataclass
class PairAgreement:
    trainers: tuple[str, str]
    lines: int
    agreed: int
    kappa: float | None


@dataclass
class Agreement:
    lines: int = 0  # lines labelled by at least two trainers
    agreed: int = 0  # of those, lines where every trainer gave the same label
    pairs: list[PairAgreement] = field(default_factory=list)  # each pair of trainers with lines in common
    disagreements: list[dict[str, object]] = field(default_factory=list)  # newest first

    @property
    def rate(self) -> float | None:
        return self.agreed / self.lines if self.lines else None


def agreement(labels: Iterable[InboxLabel]) -> Agreement:
    """Agreement over every line two or more trainers labelled (labels oldest first)."""
    by_key: dict[str, dict[str, InboxLabel]] = {}
    for label in labels:
        by_key.setdefault(label.key, {})[label.trainer] = label
    result = Agreement()
    pairs: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for group in by_key.values():
        if len(group) < 2:
            continue
        values = {trainer: label_value(label.decision, label.intent) for trainer, label in group.items()}
        result.lines += 1
        if len(set(values.values())) == 1:
            result.agreed += 1
        else:
            newest = max(label.labelled_at for label in group.values())
            result.disagreements.append(
                {
                    "text": next(iter(group.values())).text,
                    "labels": [{"trainer": t, "label": v} for t, v in values.items()],
                    "at": newest,
                }
            )
        for a, b in combinations(sorted(values), 2):
            first, second = pairs.setdefault((a, b), ([], []))
            first.append(values[a])
            second.append(values[b])
    result.pairs = [
        PairAgreement(pair, len(a), sum(x == y for x, y in zip(a, b, strict=True)), cohen_kappa(a, b))
        for pair, (a, b) in sorted(pairs.items(), key=lambda kv: -len(kv[1][0]))
    ]
    result.disagreements.sort(key=lambda d: d["at"], reverse=True)  # type: ignore[arg-type, return-value]
    return result
