"""The labelled real-buyer corpus: auditable labels, a by-session split, generated files that stay in step."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.trainer import corpus
from bot.trainer.agreement import cohen_kappa
from bot.trainer.evaluation import nlu_examples
from bot.trainer.examples import ExampleError, TrainingData, example_key

AGREEMENT = PROJECT_ROOT / "data" / "real_buyers" / "agreement.tsv"


@pytest.fixture(scope="module")
def labels() -> list[corpus.Label]:
    return corpus.read_labels()


@pytest.fixture(scope="module")
def split(labels: list[corpus.Label]) -> tuple[list[corpus.Label], list[corpus.Label]]:
    return corpus.split(labels, corpus.hand_written_keys(), corpus.self_written_test_keys())


def test_generated_files_match_the_labels() -> None:
    assert corpus.build(check_only=True) == 0, "run: python -m bot.trainer.corpus build"


def test_the_corpus_is_large_varied_and_mostly_shop_chats(labels: list[corpus.Label]) -> None:
    assert len(labels) >= 6000
    assert sum(label.source.startswith("QASC") for label in labels) <= len(labels) / 3
    assert {label.intent for label in labels} >= set(TrainingData().intents()) | {corpus.SKIP}
    assert all(label.labelled_by and label.checked for label in labels), "every line says who labelled it and how"
    assert len({label.id for label in labels}) == len(labels)


def test_split_is_by_session_and_the_test_set_is_held_out(split: tuple[list, list]) -> None:
    train, test = split
    assert not {label.session for label in train} & {label.session for label in test}
    assert len(test) >= 1500
    per_intent = Counter(label.intent for label in test)
    assert min(per_intent[intent] for intent in TrainingData().intents()) >= 15, per_intent
    assert corpus.SKIP not in per_intent and corpus.SKIP not in {label.intent for label in train}
    trained_on = {example_key(e.text) for e in TrainingData().examples()}
    assert not [t for _, t in nlu_examples(corpus.TEST_SET) if example_key(t) in trained_on]


def test_double_labelled_sample_agrees(labels: list[corpus.Label]) -> None:
    rows = [line.split("\t") for line in AGREEMENT.read_text(encoding="utf-8").splitlines()[1:]]
    assert len(rows) >= 300
    kappa = cohen_kappa([r[3] for r in rows], [r[5] for r in rows])
    assert kappa >= 0.8, kappa
    # Every disagreement was settled by a third reader, and the label file says so.
    by_id = {label.id: label for label in labels}
    disagreements = [r[0] for r in rows if r[3] != r[5]]
    assert all("adjudicated" in by_id[key].checked for key in disagreements)


def test_a_label_file_with_an_unknown_intent_is_refused_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "labels.tsv"
    row = ["abc", "能便宜吗", "QASC_Shoe", "qasc:Shoe:L1", "haggle", "", "", "L1", "single: read once", "random"]
    bad.write_text("\t".join(corpus.COLUMNS) + "\n" + "\t".join(row) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2: unknown intent 'haggle'"):
        corpus.read_labels(bad)


def test_trainers_cannot_copy_a_real_test_line_or_edit_generated_examples(split: tuple[list, list]) -> None:
    train, test = split
    data = TrainingData()
    before = {p: p.read_bytes() for p in [*(PROJECT_ROOT / "data" / "nlu").rglob("*.yml"), corpus.TEST_SET]}
    with pytest.raises(ExampleError, match="already exists"):
        data.add(test[0].intent, test[0].text)
    example = next(e for e in data.examples() if e.file.startswith("data/nlu/real/"))
    with pytest.raises(ExampleError, match="labels.tsv"):
        data.edit(example.intent, example.text, example.text + "吗")
    assert before == {p: p.read_bytes() for p in before}
