"""Processes that do no machine learning never load TensorFlow or Rasa (about 600 MB and 4 s each).

Only the Rasa servers, the action server (rasa_sdk), training and evaluation need them. Each
check imports the module in a fresh interpreter, as the process itself would start.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT

HEAVY = ("tensorflow", "rasa", "rasa_sdk")


def heavy_modules_after(code: str) -> list[str]:
    """The heavy top-level packages in sys.modules after running `code` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))"
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
        env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "module",
    [
        "bot.web.gateway",  # the buyers' and agents' gateway, with the trainers' API
        "bot.web.training_jobs",  # starts retraining, in a subprocess of its own
        "bot.cli",  # `./shop …`: the supervisor (`run`) and the quick commands
        "bot.supervision",
        "bot.processes",
    ],
)
def test_a_process_without_machine_learning_imports_neither_tensorflow_nor_rasa(module: str) -> None:
    assert heavy_modules_after(f"import {module}") == []


def test_the_gateway_app_is_built_without_tensorflow_or_rasa() -> None:
    code = "from bot.config import settings\nfrom bot.web.gateway import create_app\ncreate_app(settings().rasa_for)"
    assert heavy_modules_after(code) == []


def test_the_trainers_tools_normalise_text_without_rasa() -> None:
    # The one normaliser: the Rasa component wraps it, the trainers' duplicate check uses it directly.
    code = (
        "from bot.trainer.examples import example_key\n"
        "from bot.nlu.text import normalize\n"
        "assert normalize('是正品嗎？') == '是正品吗?'\n"
        "assert example_key('是正品嗎？') == example_key('是正品吗?')"
    )
    assert heavy_modules_after(code) == []


def test_the_rasa_component_uses_the_same_normaliser() -> None:
    from bot.nlu import normalizer, text

    assert normalizer.normalize is text.normalize


@pytest.mark.parametrize(
    "command",
    [
        ["handoff", "list"],
        ["inbox", "list"],
        ["nlu", "list", "greet", "--search", "在吗"],
        ["models", "list"],
    ],
)
def test_quick_commands_run_without_tensorflow_or_rasa(command: list[str], tmp_path) -> None:
    code = (
        "import os, sys\n"
        f"os.environ.update(SHOP_VAR_DIR={str(tmp_path)!r}, DATABASE_URL='sqlite:///{tmp_path}/shop.db')\n"
        "from bot.cli import main, init_db\n"
        "init_db()\n"
        f"assert main({command!r}) == 0\n"
    )
    assert heavy_modules_after(code) == []
