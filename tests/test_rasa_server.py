"""The speed fixes in bot/rasa_server.py give exactly what Rasa's own code gives, on the trained model."""

from __future__ import annotations

import json
import random
import tarfile
from typing import Any

import pytest
from rasa.core.agent import load_agent
from rasa.core.policies.rule_policy import RulePolicy
from rasa.utils.tensorflow.models import RasaModel

from bot import rasa_server
from bot.trainer.evaluation import TEST_SET, nlu_examples
from bot.training import model_path


def rule_lookups() -> dict[str, dict[str, str]]:
    """The rule policy's learned lookups (rules, loop unhappy paths) from the serving model's archive."""
    with tarfile.open(model_path()) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("train_RulePolicy0/rule_policy.json"))
        lookup = json.load(archive.extractfile(member))["lookup"]
    return {name: keys for name, keys in lookup.items() if isinstance(keys, dict) and keys}


def conversations(lookup: dict[str, str], count: int, seed: int = 7) -> list[list[dict[str, Any]]]:
    """State sequences of 1–40 turns stitched from the rules' own states, so that many rules match."""
    rng = random.Random(seed)
    rules = [json.loads(key) for key in lookup]
    out = []
    for _ in range(count):
        states: list[dict[str, Any]] = []
        while len(states) < rng.randint(1, 40):
            states += rng.choice(rules)
        # A conversation start carries no previous action; later turns always do.
        out.append([states[0], *(s for s in states[1:] if s.get("prev_action"))])
    return out


def test_rule_matching_looks_back_only_as_far_as_the_longest_rule_and_finds_the_same_rules() -> None:
    policy = RulePolicy.__new__(RulePolicy)  # the matching uses no trained state besides the lookup
    lookups = rule_lookups()
    assert set(lookups) == {"rules", "rules_for_loop_unhappy_path"}
    matched = 0
    for lookup in lookups.values():
        for states in conversations(lookup, 400):
            expected = RulePolicy._get_possible_keys(policy, lookup, states)
            assert rasa_server._get_possible_keys(policy, lookup, states) == expected
            matched += bool(expected)
    assert matched > 100  # the comparison is not only between empty sets


def model_has_diet() -> bool:
    with tarfile.open(model_path()) as archive:
        return any("DIETClassifier" in m.name for m in archive.getmembers())


async def test_diet_gives_the_same_intent_ranking_through_the_concrete_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not model_has_diet():
        pytest.skip("config.yml has no DIETClassifier, so its traced graph is never called")
    agent = await load_agent(model_path=str(model_path()))
    texts = [text for _, text in nlu_examples(TEST_SET)][::3]
    before = [await agent.parse_message(text) for text in texts]  # Rasa's own path also traces the graph

    def rasa_path(*args: Any) -> Any:
        raise AssertionError("a traced model must not go through Rasa's _rasa_predict again")

    monkeypatch.setattr(rasa_server, "_rasa_predict", rasa_path)
    monkeypatch.setattr(RasaModel, "_rasa_predict", rasa_server._predict_with_concrete_function)
    after = [await agent.parse_message(text) for text in texts]
    assert [p["intent_ranking"] for p in after] == [p["intent_ranking"] for p in before]
    assert [p["entities"] for p in after] == [p["entities"] for p in before]
