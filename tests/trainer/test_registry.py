"""Model versions: activation, rollback and pruning never lose the model a rollback needs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.trainer import registry


def make_models(models_dir: Path, count: int) -> list[str]:
    names = []
    for n in range(count):
        path = models_dir / f"shop-{n:012d}.tar.gz"
        path.write_bytes(b"model")
        os.utime(path, (1_700_000_000 + n, 1_700_000_000 + n))  # shop-0 oldest
        names.append(path.name)
    return names


def test_activate_and_roll_back_step_by_step(tmp_path: Path) -> None:
    a, b, c = make_models(tmp_path, 3)
    registry.activate(a, tmp_path)
    registry.activate(b, tmp_path)
    registry.activate(c, tmp_path)
    assert registry.active_model(tmp_path) == tmp_path / c
    assert registry.rollback(tmp_path) == b
    assert registry.rollback(tmp_path) == c, "rolling back twice returns to where we were"
    assert registry.load(tmp_path).active == c


def test_nothing_to_roll_back_to_and_unknown_models_are_refused(tmp_path: Path) -> None:
    (a,) = make_models(tmp_path, 1)
    registry.activate(a, tmp_path)
    with pytest.raises(LookupError):
        registry.rollback(tmp_path)
    with pytest.raises(FileNotFoundError):
        registry.activate("shop-nonexistent.tar.gz", tmp_path)


def test_pruning_keeps_the_active_model_and_its_predecessors(tmp_path: Path) -> None:
    names = make_models(tmp_path, 9)
    registry.activate(names[0], tmp_path)  # the oldest file serves
    registry.activate(names[1], tmp_path)
    removed = registry.prune(tmp_path, keep=3)
    left = {p.name for p in tmp_path.glob("shop-*.tar.gz")}
    assert {names[0], names[1]} <= left, "the serving model and the one before it stay"
    assert set(names[-3:]) <= left, "the newest stay"
    assert set(removed) == set(names) - left and len(left) == 5
