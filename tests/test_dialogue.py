"""The training data is consistent and the dialogue model follows every test story."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.config import PROJECT_ROOT
from bot.processes import service_env
from bot.training import model_path


def rasa(*args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rasa", *args], cwd=cwd, env=service_env(), capture_output=True, text=True, timeout=900
    )


def test_training_data_validates() -> None:
    result = rasa("data", "validate", "--fail-on-warnings")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def test_conversation_stories_pass_with_no_prediction_errors(tmp_path: Path) -> None:
    result = rasa(
        "test", "core", "--model", str(model_path()), "--stories", "tests/test_stories.yml",
        "--fail-on-prediction-errors", "--out", str(tmp_path / "results"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    failed = tmp_path / "results" / "failed_test_stories.yml"
    assert not failed.exists() or "story" not in failed.read_text(encoding="utf-8")
