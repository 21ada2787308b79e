"""Retraining as trainers use it: validate → train → evaluate → gate → activate.

One implementation behind `./shop retrain` and the trainers' console (which runs
`python -m bot retrain --json` in the background and shows its progress). The
serving model keeps answering buyers throughout; a candidate replaces it only when
the regression gate passes, and a failure at any step leaves it serving.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import PROJECT_ROOT, settings
from bot.training import MODELS_DIR, TrainingFailed, data_paths, train_if_stale

PHASES = {
    "validate": "校验数据",
    "train": "训练模型",
    "evaluate": "评估",
    "gate": "对比把关",
    "activate": "上线",
    "done": "完成",
}
# Where each phase starts on the progress bar; training (DIET's epochs) takes most of the time.
_START = {"validate": 0, "train": 5, "evaluate": 80, "gate": 95, "activate": 97, "done": 100}
_EPOCHS = re.compile(r"Epochs:\s+(\d+)%")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
ERRORS_SHOWN = 100


@dataclass
class Outcome:
    outcome: str  # activated | refused | failed | unchanged
    message: str  # one Chinese sentence for the trainer
    reasons: list[str] = field(default_factory=list)
    candidate: dict[str, Any] | None = None
    serving: dict[str, Any] | None = None
    report: str | None = None  # file names under the reports directory
    confusion: str | None = None

    @property
    def exit_code(self) -> int:
        """0 serving the best model, 1 candidate refused by the gate, 2 could not train."""
        return {"activated": 0, "unchanged": 0, "refused": 1}.get(self.outcome, 2)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Progress:
    """Reports phase, percent and output lines to whoever watches (terminal or console)."""

    def __init__(self, emit: Callable[[dict[str, Any]], None]) -> None:
        self.emit = emit
        self.phase = "validate"
        self.percent = 0

    def enter(self, phase: str) -> None:
        self.phase, self.percent = phase, _START[phase]
        self.emit({"phase": phase, "percent": self.percent})

    def line(self, text: str) -> None:
        text = _ANSI.sub("", text)  # Rasa colours its warnings for terminals; the console shows plain text
        if self.phase == "train" and (match := _EPOCHS.search(text)):
            percent = _START["train"] + int(match[1]) * (_START["evaluate"] - _START["train"]) // 100
            if percent != self.percent:
                self.percent = percent
                self.emit({"phase": self.phase, "percent": percent})
            return  # a redrawn progress bar is not worth a log line
        self.emit({"phase": self.phase, "percent": self.percent, "log": text})


def reports_dir() -> Path:
    return settings().var_dir / "reports"


def data_problems(env: dict[str, str], progress: Progress) -> list[str]:
    """What stops a retrain: clashes between intents, unreadable files, `rasa data validate` failures."""
    from bot.trainer.examples import ExampleError, TrainingData, example_key, plain_text

    try:
        examples = TrainingData().examples(test=None)
    except ExampleError as exc:
        return [str(exc)]
    owners: dict[str, set[str]] = {}
    for example in examples:
        owners.setdefault(example_key(example.text), set()).add(example.intent)
    problems = [f"'{key}' is an example of {', '.join(sorted(i))}" for key, i in owners.items() if len(i) > 1]
    # Same intent: only exact repeats (a traditional-character variant is a deliberate, different example).
    repeats = Counter((e.intent, plain_text(e.text)) for e in examples)
    problems += [f"'{text}' appears {n} times under {intent}" for (intent, text), n in repeats.items() if n > 1]
    command = [sys.executable, "-m", "rasa", "data", "validate", "--fail-on-warnings", "--data"]
    command += [str(p.relative_to(PROJECT_ROOT)) for p in data_paths()]
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    for line in (result.stdout + result.stderr).splitlines():
        if line.strip():
            progress.line(line.strip())
    if result.returncode != 0:
        found = [
            line for line in (result.stdout + result.stderr).splitlines() if "UserWarning" in line or "Error" in line
        ]
        problems.append("rasa data validate failed" + (f": {found[-1].strip()}" if found else " (see the log)"))
    return problems


def _test_set_fingerprint() -> str:
    from bot.trainer.evaluation import REAL_TEST_SET, TEST_SET

    digest = hashlib.sha256(TEST_SET.read_bytes())
    if REAL_TEST_SET.is_file():
        digest.update(REAL_TEST_SET.read_bytes())
    return digest.hexdigest()[:12]


def evaluation_of(model: Path) -> Any:
    """The model's evaluation on the current test set, computed once and kept next to the model.

    Computed in a child process (`python -m bot.trainer.evaluation`): loading a model brings in
    TensorFlow, which the supervisor (`./shop run`) and this process must not keep for their lifetime.
    """
    from bot.trainer.evaluation import Evaluation

    cache = MODELS_DIR / "evaluations" / f"{model.name}@{_test_set_fingerprint()}.json"
    if not cache.exists():
        command = [sys.executable, "-m", "bot.trainer.evaluation", str(model), str(cache)]
        result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()
            detail = next((line for line in reversed(output) if line.strip()), "no output")
            raise RuntimeError(f"evaluating {model.name} failed (exit code {result.returncode}): {detail}")
    return Evaluation.from_json(cache.read_text(encoding="utf-8"))


def _summary(evaluation: Any) -> dict[str, Any]:
    summary = {
        "model": evaluation.model,
        "accuracy": round(evaluation.accuracy, 4),
        "macro_f1": round(evaluation.macro_f1, 4),
        "per_intent": evaluation.per_intent,
        "errors": [list(e) for e in evaluation.errors[:ERRORS_SHOWN]],
    }
    if evaluation.real is not None:  # the real-buyer test set: the figures that matter most
        summary["real"] = {
            "accuracy": round(evaluation.real.accuracy, 4),
            "macro_f1": round(evaluation.real.macro_f1, 4),
            "wrong_rate": round(evaluation.real.wrong_rate, 4),
            "fallback_rate": round(evaluation.real.fallback_rate, 4),
        }
    return summary


def retrain(env: dict[str, str], emit: Callable[[dict[str, Any]], None], rasa_urls: Sequence[str]) -> Outcome:
    """Run the whole loop; `emit` receives {"phase", "percent", "log"?} as it goes; `rasa_urls` get the new model."""
    from bot.trainer import registry
    from bot.trainer.evaluation import gate, write_report

    progress = Progress(emit)
    progress.enter("validate")
    if problems := data_problems(env, progress):
        return Outcome("failed", "训练数据有问题，没有开始训练；线上模型不变。", problems)

    progress.enter("train")
    try:
        candidate_path = train_if_stale(env, on_output=progress.line)
    except TrainingFailed as exc:
        return Outcome("failed", "训练失败，线上模型不变。", [str(exc)])

    progress.enter("evaluate")
    serving_path = registry.active_model()
    try:
        candidate = evaluation_of(candidate_path)
        serving = evaluation_of(serving_path) if serving_path and serving_path != candidate_path else None
    except Exception as exc:  # a model that cannot even be loaded must not serve; say why and stop
        return Outcome("failed", "评估失败，线上模型不变。", [f"evaluation failed: {exc!r}"])

    progress.enter("gate")
    verdict = gate(candidate, serving)
    report = reports_dir() / f"{datetime.now():%Y%m%d-%H%M%S}-{candidate_path.name.removesuffix('.tar.gz')}.html"
    picture = write_report(candidate, serving, report)
    shown = {"candidate": _summary(candidate), "report": report.name, "confusion": picture.name}
    if serving_path == candidate_path:
        return Outcome("unchanged", "训练数据没有变化，线上已是这个模型。", serving=shown["candidate"], **shown)
    if not verdict.passed:
        refused = "候选模型没有通过对比把关，线上模型不变。"
        return Outcome("refused", refused, verdict.reasons, serving=_summary(serving) if serving else None, **shown)

    progress.enter("activate")
    not_switched = registry.serve(candidate_path.name, rasa_urls)
    message, notes = "新模型通过把关，已上线，正在进行的对话不受影响。", []
    if not_switched:
        message, notes = "新模型通过把关，下次启动时生效（运行中的服务器没有切换）。", [not_switched]
    progress.enter("done")
    return Outcome("activated", message, notes, serving=_summary(serving) if serving else None, **shown)
