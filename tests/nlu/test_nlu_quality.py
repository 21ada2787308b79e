"""The held-out NLU test set: independent of the training data, and the model meets its targets."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.trainer.evaluation import confusion_png, evaluate, gate, nlu_examples
from bot.trainer.examples import example_key, is_near_copy
from bot.training import model_path

TEST_SET = Path(__file__).with_name("test_nlu.yml")
INTENTS = [
    "greet", "goodbye", "thank", "affirm", "deny", "ask_authenticity", "bargain", "ask_shipping_time",
    "track_order", "color_difference", "request_refund", "request_exchange", "quality_issue",
    "wrong_or_missing_item", "ask_size", "ask_product_info", "ask_payment", "ask_invoice", "change_order",
    "complain", "request_human", "inform_order_id", "out_of_scope",
]  # fmt: skip


def training_examples() -> list[tuple[str, str]]:
    return [e for f in sorted((PROJECT_ROOT / "data" / "nlu").glob("*.yml")) for e in nlu_examples(f)]


def test_every_intent_has_at_least_15_test_messages() -> None:
    counts = Counter(intent for intent, _ in nlu_examples(TEST_SET))
    assert set(counts) == set(INTENTS)
    assert min(counts.values()) >= 15, counts


def test_every_intent_has_at_least_40_training_examples_and_none_is_under_two_intents() -> None:
    train = training_examples()
    counts = Counter(intent for intent, _ in train)
    assert set(counts) == set(INTENTS)
    assert min(counts.values()) >= 40, counts
    owners: dict[str, set[str]] = {}
    for intent, text in train:
        owners.setdefault(example_key(text), set()).add(intent)
    clashes = {k: v for k, v in owners.items() if len(v) > 1 and k}
    assert not clashes, clashes


def test_test_messages_are_not_copies_of_training_examples() -> None:
    train_keys = [example_key(text) for _, text in training_examples()]
    train_set = set(train_keys)
    near = []
    for _, text in nlu_examples(TEST_SET):
        k = example_key(text)
        if k in train_set:
            near.append((text, "exact"))
            continue
        near += [(text, other) for other in train_keys if is_near_copy(k, other)][:1]
    assert not near, near


def test_model_meets_the_accuracy_targets_on_the_test_set() -> None:
    path = model_path()
    if not path.exists():
        pytest.fail(f"No trained model at {path}: run `./shop test` (it trains first) or `./shop train`.")
    evaluation = evaluate(path, TEST_SET)  # a fallback counts as a miss
    out = PROJECT_ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "nlu_test_set.json").write_text(
        json.dumps(evaluation.to_json(), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    confusion_png(evaluation, out / "nlu_confusion.png")
    assert evaluation.accuracy >= 0.93, evaluation.errors
    assert evaluation.macro_f1 >= 0.92, evaluation.errors
    verdict = gate(evaluation, serving=None)  # core intents: F1 >= 0.95 each
    assert verdict.passed, verdict.reasons
