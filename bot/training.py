"""Training the Rasa model only when its inputs changed.

The model file is named after a fingerprint of everything that shapes it (config,
domain, training data, jieba dictionary, custom NLU components), so "is the model
stale?" is "does models/shop-<fingerprint>.tar.gz exist?".
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
import time
from pathlib import Path

from bot.config import PROJECT_ROOT

MODELS_DIR = PROJECT_ROOT / "models"


def _inputs(root: Path) -> list[Path]:
    files = [root / "config.yml", root / "domain.yml"]
    files += sorted((root / "data").rglob("*.yml"))
    files += sorted((root / "data" / "nlu" / "jieba").glob("*.txt"))
    files += sorted((root / "bot" / "nlu").glob("*.py"))
    return [f for f in files if f.is_file()]


def fingerprint(root: Path = PROJECT_ROOT) -> str:
    digest = hashlib.sha256()
    for path in _inputs(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def model_path(root: Path = PROJECT_ROOT) -> Path:
    return MODELS_DIR / f"shop-{fingerprint(root)}.tar.gz"


def train_if_stale(env: dict[str, str], force: bool = False) -> Path:
    """Return the up-to-date model, training it first if it is missing or stale."""
    MODELS_DIR.mkdir(exist_ok=True)
    # Two commands started together (the run and the test command, say) train once.
    with (MODELS_DIR / ".train.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _train_locked(env, force)


def _train_locked(env: dict[str, str], force: bool) -> Path:
    target = model_path()
    if target.exists() and not force:
        print(f"Model is up to date: {target.relative_to(PROJECT_ROOT)}", flush=True)
        return target
    print("Training the model (data, config or domain changed) …", flush=True)
    started = time.monotonic()
    command = [
        sys.executable, "-m", "rasa", "train",
        "--config", "config.yml", "--domain", "domain.yml", "--data", "data",
        "--out", str(MODELS_DIR), "--fixed-model-name", target.name.removesuffix(".tar.gz"),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env)
    if result.returncode != 0 or not target.exists():
        raise SystemExit(f"Training failed (exit code {result.returncode}); see the output above.")
    print(f"Trained {target.name} in {time.monotonic() - started:.0f} s", flush=True)
    from bot.trainer.registry import prune  # old versions stay for rollback, within limits

    prune()
    return target
