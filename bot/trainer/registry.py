"""Model versions: which trained model serves, which served before, and switching safely.

Trained models stay in models/ (named after the fingerprint of their inputs); the
file models/active.json says which one serves and which served before it, so a
rollback is one step. Activating a model in a running Rasa server swaps it in place
(`PUT /model`): conversations live in the tracker store and carry on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from bot.training import MODELS_DIR

KEEP = 5  # models kept besides the active one and its predecessors


@dataclass
class Registry:
    active: str | None = None
    history: list[str] = field(default_factory=list)  # previously active, newest first


def _file(models_dir: Path) -> Path:
    return models_dir / "active.json"


def load(models_dir: Path = MODELS_DIR) -> Registry:
    path = _file(models_dir)
    if not path.exists():
        return Registry()
    data = json.loads(path.read_text(encoding="utf-8"))
    return Registry(data.get("active"), list(data.get("history", [])))


def _save(registry: Registry, models_dir: Path) -> None:
    models_dir.mkdir(exist_ok=True)
    temp = _file(models_dir).with_suffix(".tmp")
    temp.write_text(json.dumps(asdict(registry), indent=2), encoding="utf-8")
    os.replace(temp, _file(models_dir))  # a crash never leaves a half-written registry


def active_model(models_dir: Path = MODELS_DIR) -> Path | None:
    registry = load(models_dir)
    path = models_dir / registry.active if registry.active else None
    return path if path and path.exists() else None


def activate(name: str, models_dir: Path = MODELS_DIR) -> Registry:
    """Make `name` the serving model, remembering the one it replaces."""
    if not (models_dir / name).exists():
        raise FileNotFoundError(f"no model {name} in {models_dir}")
    registry = load(models_dir)
    if registry.active != name:
        previous = [registry.active] if registry.active else []
        registry.history = [m for m in previous + registry.history if m != name][: KEEP * 2]
        registry.active = name
        _save(registry, models_dir)
    return registry


def previous(registry: Registry, models_dir: Path = MODELS_DIR) -> str | None:
    """The model a rollback returns to: the newest predecessor still on disk."""
    return next((name for name in registry.history if (models_dir / name).exists()), None)


def rollback(models_dir: Path = MODELS_DIR) -> str:
    """Serve the previously active model again; returns its name."""
    registry = load(models_dir)
    name = previous(registry, models_dir)
    if name is None:
        raise LookupError("no earlier model to roll back to")
    registry.history = [m for m in registry.history if m != name]
    if registry.active:
        registry.history.insert(0, registry.active)
    registry.active = name
    _save(registry, models_dir)
    return name


def models(models_dir: Path = MODELS_DIR) -> list[Path]:
    """Every trained model file, newest first."""
    return sorted(models_dir.glob("shop-*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)


def prune(models_dir: Path = MODELS_DIR, keep: int = KEEP) -> list[str]:
    """Delete old model files, never the active one or the ones a rollback may need."""
    registry = load(models_dir)
    trained = models(models_dir)
    wanted = {registry.active, *registry.history[:keep], *(p.name for p in trained[:keep])}
    removed = [p.name for p in trained if p.name not in wanted]
    for name in removed:
        (models_dir / name).unlink()
    return removed


def hot_swap(rasa_urls: Sequence[str], model: Path) -> None:
    """Load `model` into every running Rasa server without dropping conversations.

    Each replica is asked even if an earlier one fails; RuntimeError names the ones that did not switch.
    """
    failures = []
    for url in rasa_urls:
        try:
            response = requests.put(f"{url}/model", json={"model_file": str(model.resolve())}, timeout=300)
            if response.status_code >= 400:
                failures.append(f"{url} refused: HTTP {response.status_code} {response.text[:200]}")
        except requests.RequestException as exc:
            failures.append(f"{url} unreachable: {exc}")
    if failures:
        raise RuntimeError("model not switched on " + "; ".join(failures))


def serve(name: str, rasa_urls: Sequence[str], models_dir: Path = MODELS_DIR) -> str | None:
    """Make `name` the serving model and load it into the running servers.

    Returns None when every server switched, else why some did not (they load it at their next start).
    """
    activate(name, models_dir)
    try:
        hot_swap(rasa_urls, models_dir / name)
    except RuntimeError as exc:
        return str(exc)
    return None
