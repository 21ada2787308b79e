"""Evaluating a trained model on the held-out NLU test set, reporting it, and gating it against the serving model.

A trainer's change is only promoted when the candidate model is not worse than the one serving buyers now;
`gate` decides that and says why in plain English, `html_report` shows trainers what changed.
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import json
import threading
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bot.config import PROJECT_ROOT
from bot.trainer.examples import plain_text, read_domain, yaml_examples

TEST_SET = PROJECT_ROOT / "tests" / "nlu" / "test_nlu.yml"
DOMAIN = PROJECT_ROOT / "domain.yml"
# The intents whose mistakes cost the shop most (fake-goods worries, haggling, shipping, colour, refunds).
CORE_INTENTS = ["ask_authenticity", "bargain", "ask_shipping_time", "color_difference", "request_refund"]
CORE_F1_FLOOR = 0.95
FALLBACK = "nlu_fallback"
_EPSILON = 1e-9  # float noise, not a real drop

T = TypeVar("T")


INTENTS = read_domain(DOMAIN)[0]


def nlu_examples(path: Path = TEST_SET) -> list[tuple[str, str]]:
    """The (intent, text) pairs of a Rasa NLU YAML file, annotations reduced to plain text."""
    return [(intent, plain_text(text)) for intent, text in yaml_examples(path.read_text(encoding="utf-8"), path.name)]


@dataclass
class Evaluation:
    """One model's results on the test set."""

    model: str
    accuracy: float
    macro_f1: float
    per_intent: dict[str, dict[str, float]]
    confusion: dict[str, list[Any]] = field(default_factory=lambda: {"labels": [], "matrix": []})
    errors: list[tuple[str, str, float, str]] = field(default_factory=list)

    def to_json(self) -> str:
        """The evaluation as JSON (Chinese left readable)."""
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Evaluation:
        """Read back what `to_json` wrote, so a serving model's evaluation can be stored and reused."""
        data = json.loads(text)
        data["errors"] = [tuple(e) for e in data.get("errors", [])]
        return cls(**data)

    def f1(self, intent: str) -> float:
        """F1 of one intent; an intent missing from the results counts as 0."""
        return float(self.per_intent.get(intent, {}).get("f1", 0.0))


@dataclass
class GateResult:
    """Whether the candidate may replace the serving model, and every reason it may not."""

    passed: bool
    reasons: list[str] = field(default_factory=list)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, also when called from inside a running event loop (pytest-asyncio, Sanic)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def score(model: str, truth: list[str], guess: list[str], confidences: list[float], texts: list[str]) -> Evaluation:
    """Metrics of predictions against the truth; split from `evaluate` so it is testable without a model."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    # Per-intent scores over the domain's intents only; a fallback or unknown guess is just a miss.
    intents = INTENTS + sorted({t for t in truth} - set(INTENTS))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, guess, labels=intents, average=None, zero_division=0
    )
    per_intent = {
        intent: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for intent, p, r, f, s in zip(intents, precision, recall, f1, support, strict=True)
    }
    # The confusion matrix also gets columns for nlu_fallback and other non-domain guesses, so no miss disappears.
    labels = intents + sorted(set(guess) - set(intents))
    matrix = confusion_matrix(truth, guess, labels=labels)
    errors = [
        (t, g, round(float(c), 4), text)
        for t, g, c, text in zip(truth, guess, confidences, texts, strict=True)
        if t != g
    ]
    return Evaluation(
        model=model,
        accuracy=float(accuracy_score(truth, guess)),
        macro_f1=float(sum(v["f1"] for v in per_intent.values()) / len(per_intent)),
        per_intent=per_intent,
        confusion={"labels": labels, "matrix": matrix.tolist()},
        errors=errors,
    )


def evaluate(model_path: Path | str, test_set: Path = TEST_SET) -> Evaluation:
    """Load a trained model and score it on the test set (about 10 s to load, 5 s to parse)."""
    from rasa.core.agent import Agent

    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"No trained model at {model_path}")
    examples = nlu_examples(test_set)
    agent = Agent.load(str(model_path))

    async def parse_all() -> list[tuple[str, float]]:
        out = []
        for _, text in examples:
            parsed = await agent.parse_message(text)
            intent = parsed.get("intent") or {}
            out.append((intent.get("name") or FALLBACK, float(intent.get("confidence") or 0.0)))
        return out

    parsed = _run(parse_all())
    return score(
        model_path.name,
        [intent for intent, _ in examples],
        [name for name, _ in parsed],
        [confidence for _, confidence in parsed],
        [text for _, text in examples],
    )


def _confusion_png_bytes(evaluation: Evaluation) -> bytes:
    """The confusion matrix drawn as PNG bytes."""
    # Figure + Agg canvas directly: no pyplot global state, no display needed, safe in servers and threads.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = evaluation.confusion["labels"]
    matrix = evaluation.confusion["matrix"]
    size = max(6.0, 0.42 * len(labels) + 3)
    fig = Figure(figsize=(size + 1.5, size), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    # Colour by share of each expected intent's row, so small intents' mistakes are as visible as big ones'.
    shares = [[cell / (sum(row) or 1) for cell in row] for row in matrix]
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.04, label="share of expected intent")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("expected")
    ax.set_title(f"{evaluation.model}  accuracy {evaluation.accuracy:.3f}  macro-F1 {evaluation.macro_f1:.3f}")
    for i, row in enumerate(matrix):
        for j, cell in enumerate(row):
            if cell:  # zeros left blank so the errors stand out
                colour = "white" if shares[i][j] > 0.5 else ("black" if i == j else "darkred")
                ax.text(j, i, str(cell), ha="center", va="center", fontsize=7, color=colour)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def confusion_png(evaluation: Evaluation, path: Path | str) -> Path:
    """Write the confusion matrix as a PNG picture and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_confusion_png_bytes(evaluation))
    return path


def newly_wrong(candidate: Evaluation, serving: Evaluation, intent: str) -> list[tuple[str, str]]:
    """(text, candidate's guess) of test messages touching `intent` that the serving model got right.

    These are what a trainer can act on: add training examples like them and retrain.
    """
    before = {(expected, predicted, text) for expected, predicted, _, text in serving.errors}
    return [
        (text, predicted)
        for expected, predicted, _, text in candidate.errors
        if intent in (expected, predicted) and (expected, predicted, text) not in before
    ]


def gate(candidate: Evaluation, serving: Evaluation | None, tolerance: float = 0.01) -> GateResult:
    """Refuse a candidate that is worse than the serving model, or weak on a core intent."""
    # Each reason in Chinese for the trainers' console, then in English for operators' logs.
    reasons = []
    if serving is not None:
        for zh, label, old, new in (
            ("准确率", "accuracy", serving.accuracy, candidate.accuracy),
            ("宏平均 F1", "macro-F1", serving.macro_f1, candidate.macro_f1),
        ):
            if old - new > tolerance + _EPSILON:
                reasons.append(
                    f"{zh}从 {old:.3f} 降到 {new:.3f}，超过允许的 {tolerance:.3f}"
                    f"（{label} fell from {old:.3f} to {new:.3f}, more than the allowed {tolerance:.3f} tolerance.）"
                )
        # Core intents get no tolerance: a buyer asking about refunds or fakes must never get a worse bot.
        for intent in CORE_INTENTS:
            old, new = serving.f1(intent), candidate.f1(intent)
            if old - new > _EPSILON:
                flipped = "；".join(f"“{text}” → {got}" for text, got in newly_wrong(candidate, serving, intent))
                reasons.append(
                    f"核心意图 {intent} 的 F1 从 {old:.3f} 降到 {new:.3f}，核心意图不允许下降"
                    + (f"；新答错：{flipped}" if flipped else "")
                    + f"（{intent} F1 fell from {old:.3f} to {new:.3f}; core intents may not drop at all.）"
                )
    for intent in CORE_INTENTS:
        if candidate.f1(intent) < CORE_F1_FLOOR:
            reasons.append(
                f"核心意图 {intent} 的 F1 只有 {candidate.f1(intent):.3f}，低于 {CORE_F1_FLOOR:.2f} 的底线"
                f"（{intent} F1 is {candidate.f1(intent):.3f}, below the {CORE_F1_FLOOR:.2f} floor.）"
            )
    return GateResult(passed=not reasons, reasons=reasons)


_CSS = """
body { font-family: -apple-system, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td.text, td.name { text-align: left; }
th { background: #f2f2f2; }
.pass { color: #137333; font-weight: bold; }
.fail { color: #b3261e; font-weight: bold; }
.up { color: #137333; } .down { color: #b3261e; }
tr.core td.name { font-weight: bold; }
img { max-width: 100%; border: 1px solid #ddd; }
"""


def _delta(old: float, new: float) -> str:
    """A signed, coloured difference cell."""
    diff = new - old
    css = "up" if diff > _EPSILON else "down" if diff < -_EPSILON else ""
    return f'<td class="{css}">{diff:+.3f}</td>'


def write_report(candidate: Evaluation, serving: Evaluation | None, report: Path) -> Path:
    """Write the HTML report and, beside it, the confusion matrix as a PNG (for chats and issues); returns the PNG."""
    confusion = _confusion_png_bytes(candidate)  # drawn once for both
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(html_report(candidate, serving, confusion=confusion), encoding="utf-8")
    picture = report.with_suffix(".png")
    picture.write_bytes(confusion)
    return picture


def html_report(
    candidate: Evaluation, serving: Evaluation | None = None, tolerance: float = 0.01, confusion: bytes | None = None
) -> str:
    """One self-contained HTML page: summary, gate verdict, per-intent table, confusion matrix and errors.

    `confusion` is the candidate's confusion matrix as PNG bytes if already drawn.
    """
    e = html.escape
    verdict = gate(candidate, serving, tolerance)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>模型评估：{e(candidate.model)}</title><style>{_CSS}</style></head><body>",
        f"<h1>模型评估报告：{e(candidate.model)}</h1>",
        "<h2>总览</h2><table><tr><th>指标</th>",
    ]
    if serving is not None:
        parts.append(f"<th>线上模型 {e(serving.model)}</th><th>候选模型 {e(candidate.model)}</th><th>变化</th></tr>")
        for label, old, new in (
            ("准确率 accuracy", serving.accuracy, candidate.accuracy),
            ("宏平均 F1 macro-F1", serving.macro_f1, candidate.macro_f1),
        ):
            parts.append(
                f'<tr><td class="name">{label}</td><td>{old:.3f}</td><td>{new:.3f}</td>{_delta(old, new)}</tr>'
            )
    else:
        parts.append(f"<th>候选模型 {e(candidate.model)}</th></tr>")
        parts.append(f'<tr><td class="name">准确率 accuracy</td><td>{candidate.accuracy:.3f}</td></tr>')
        parts.append(f'<tr><td class="name">宏平均 F1 macro-F1</td><td>{candidate.macro_f1:.3f}</td></tr>')
    error_cells = f"<td>{len(serving.errors)}</td>" if serving else ""
    error_cells += f"<td>{len(candidate.errors)}</td>" + ("<td></td>" if serving else "")
    parts.append(f'<tr><td class="name">错误数 errors</td>{error_cells}</tr></table>')

    parts.append("<h2>上线检查</h2>")
    if verdict.passed:
        parts.append('<p class="pass">通过 PASSED: the candidate may replace the serving model.</p>')
    else:
        parts.append('<p class="fail">未通过 REFUSED:</p><ul>')
        parts += [f"<li>{e(reason)}</li>" for reason in verdict.reasons]
        parts.append("</ul>")
    if serving is None:
        parts.append("<p>没有线上模型可比较：只检查核心意图的 F1 下限。</p>")

    parts.append("<h2>各意图指标</h2><table><tr><th>意图 intent</th><th>样本数</th>")
    columns = ["precision", "recall", "f1"]
    if serving is not None:
        parts += [f"<th>线上 {c}</th><th>候选 {c}</th>" for c in columns] + ["<th>F1 变化</th></tr>"]
    else:
        parts += [f"<th>{c}</th>" for c in columns] + ["</tr>"]
    intents = list(candidate.per_intent) + [
        i for i in (serving.per_intent if serving else {}) if i not in candidate.per_intent
    ]
    for intent in intents:
        new = candidate.per_intent.get(intent, {})
        core = intent in CORE_INTENTS
        row = [f'<tr class="{"core" if core else ""}"><td class="name">{e(intent)}{" ★" if core else ""}</td>']
        row.append(f"<td>{int(new.get('support', 0))}</td>")
        if serving is not None:
            old = serving.per_intent.get(intent, {})
            row += [f"<td>{old.get(c, 0.0):.3f}</td><td>{new.get(c, 0.0):.3f}</td>" for c in columns]
            row.append(_delta(old.get("f1", 0.0), new.get("f1", 0.0)))
        else:
            row += [f"<td>{new.get(c, 0.0):.3f}</td>" for c in columns]
        parts.append("".join(row) + "</tr>")
    parts.append("</table><p>★ 核心意图 (core intent)</p>")

    png = base64.b64encode(confusion or _confusion_png_bytes(candidate)).decode("ascii")
    parts.append("<h2>混淆矩阵（候选模型）</h2>")
    parts.append(f'<img alt="confusion matrix of {e(candidate.model)}" src="data:image/png;base64,{png}">')

    parts.append(f"<h2>候选模型答错的测试消息（{len(candidate.errors)} 条）</h2>")
    if candidate.errors:
        parts.append("<table><tr><th>应为 expected</th><th>预测 predicted</th><th>置信度</th><th>消息 text</th></tr>")
        for expected, predicted, confidence, text in candidate.errors:
            parts.append(
                f'<tr><td class="name">{e(expected)}</td><td class="name">{e(predicted)}</td>'
                f'<td>{confidence:.2f}</td><td class="text">{e(text)}</td></tr>'
            )
        parts.append("</table>")
    else:
        parts.append("<p>没有答错的消息。</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
