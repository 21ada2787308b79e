"""Training the Rasa model only when its inputs changed.

The model file is named after a fingerprint of everything that shapes it (config,
domain, training data, jieba dictionary, custom NLU components), so "is the model
stale?" is "does models/shop-<fingerprint>.tar.gz exist?".
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bot.config import PROJECT_ROOT

MODELS_DIR = PROJECT_ROOT / "models"


def with_real_buyers() -> bool:
    """Whether training uses the labelled real-buyer examples (data/nlu/real/); SHOP_REAL_BUYERS=0 leaves them out.

    They come from research corpora that do not clearly permit commercial use (data/real_buyers/README.md).
    """
    return os.environ.get("SHOP_REAL_BUYERS", "1").strip().lower() not in ("0", "false", "no", "off")


def data_paths(root: Path = PROJECT_ROOT) -> list[Path]:
    """The training data Rasa reads: rules and hand-written NLU, plus the real-buyer examples unless switched off."""
    paths = sorted((root / "data").glob("*.yml")) + sorted((root / "data" / "nlu").glob("*.yml"))
    if with_real_buyers():
        paths += sorted((root / "data" / "nlu" / "real").glob("*.yml"))
    return paths


def _inputs(root: Path) -> list[Path]:
    files = [root / "config.yml", root / "domain.yml"]
    files += data_paths(root)
    files += sorted((root / "data" / "nlu" / "jieba").glob("*.txt"))
    files += sorted((root / "bot" / "nlu").glob("*.py"))
    if with_real_buyers():  # unlabelled buyer lines some components learn from (bot.nlu.domain_embeddings)
        files.append(root / "data" / "real_buyers" / "unlabelled.txt")
    return [f for f in files if f.is_file()]


def fingerprint(root: Path = PROJECT_ROOT) -> str:
    digest = hashlib.sha256()
    for path in _inputs(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def model_path(root: Path = PROJECT_ROOT) -> Path:
    return MODELS_DIR / f"shop-{fingerprint(root)}.tar.gz"


class TrainingFailed(RuntimeError):
    """`rasa train` did not produce a model; the message says why (the output above has details)."""


OutputSink = Callable[[str], None]


def train_if_stale(env: dict[str, str], force: bool = False, on_output: OutputSink | None = None) -> Path:
    """Return the up-to-date model, training it first if it is missing or stale.

    Rasa's output goes to the terminal, or line by line (progress bars included) to `on_output`.
    """
    MODELS_DIR.mkdir(exist_ok=True)
    # Two commands started together (the run and the test command, say) train once.
    with (MODELS_DIR / ".train.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _train_locked(env, force, on_output)


def _train_locked(env: dict[str, str], force: bool, on_output: OutputSink | None) -> Path:
    say = on_output or (lambda line: print(line, flush=True))
    target = model_path()
    if target.exists() and not force:
        say(f"Model is up to date: {target.relative_to(PROJECT_ROOT)}")
        return target
    say("Training the model (data, config or domain changed) …")
    started = time.monotonic()
    # Rasa writes under a name nothing serves or counts as up to date; only a finished model gets the real one.
    partial = MODELS_DIR / f".partial-{target.name}"
    partial.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "rasa", "train",
        "--config", "config.yml", "--domain", "domain.yml",
        "--data", *(str(p.relative_to(PROJECT_ROOT)) for p in data_paths()),
        "--out", str(MODELS_DIR), "--fixed-model-name", partial.name.removesuffix(".tar.gz"),
    ]  # fmt: skip
    code = _run(command, env, on_output)
    if code != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        raise TrainingFailed(f"Training failed (rasa train exit code {code}); see its output.")
    os.replace(partial, target)
    say(f"Trained {target.name} in {time.monotonic() - started:.0f} s")
    from bot.trainer.registry import prune  # old versions stay for rollback, within limits

    prune()
    return target


def _run(command: list[str], env: dict[str, str], on_output: OutputSink | None) -> int:
    if on_output is None:
        return subprocess.run(command, cwd=PROJECT_ROOT, env=env).returncode
    with subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        pending = b""
        # Progress bars redraw with \r, so split on both kinds of line end to see every update.
        while chunk := proc.stdout.read1(4096):
            *lines, pending = re.split(rb"[\r\n]", pending + chunk)
            for line in lines:
                if text := line.decode("utf-8", "replace").strip():
                    on_output(text)
        if text := pending.decode("utf-8", "replace").strip():
            on_output(text)
        return proc.wait()
