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
# Real buyers' messages, labelled and split by session (bot.trainer.corpus): the headline figures.
REAL_TEST_SET = PROJECT_ROOT / "tests" / "nlu" / "real_buyers_test.yml"
DOMAIN = PROJECT_ROOT / "domain.yml"
# The intents whose mistakes cost the shop most (fake-goods worries, haggling, shipping, colour, refunds).
CORE_INTENTS = ["ask_authenticity", "bargain", "ask_shipping_time", "color_difference", "request_refund"]
# On the self-written set (18 messages an intent): a floor against collapse, not a target. Real buyers'
# conventions (a paid-but-unshipped order is ask_shipping_time) cost ask_shipping_time a few of its
# self-written messages, so 0.95 would refuse every candidate since real-buyer data (README).
CORE_F1_FLOOR = 0.85
# A core intent's F1 may move by a message or two by chance; refuse only when the candidate newly gets at
# least this many more of its messages wrong than it newly gets right (on either test set).
CORE_NET_FLIPS = 3
FALLBACK = "nlu_fallback"
# What a "您是想问…" question costs, relative to a wrong answer (1): the fallback threshold minimises the sum.
FALLBACK_COST = 0.5
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
    fallback_rate: float = 0.0  # share of messages answered with "您是想问…"
    wrong_rate: float = 0.0  # share answered with a wrong intent (worse than a fallback)
    # (threshold, coverage, precision of the covered) of the model's top guess ignoring the fallback
    curve: list[tuple[float, float, float]] = field(default_factory=list)
    real: Evaluation | None = None  # the same model on the real-buyer test set, when it exists

    def to_json(self) -> str:
        """The evaluation as JSON (Chinese left readable)."""
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Evaluation:
        """Read back what `to_json` wrote, so a serving model's evaluation can be stored and reused."""
        return cls._from_dict(json.loads(text))

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Evaluation:
        data["errors"] = [tuple(e) for e in data.get("errors", [])]
        data["curve"] = [tuple(c) for c in data.get("curve", [])]
        data["real"] = cls._from_dict(data["real"]) if data.get("real") else None
        return cls(**data)

    def core_f1(self) -> dict[str, float]:
        return {intent: self.f1(intent) for intent in CORE_INTENTS}

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


def score(
    model: str,
    truth: list[str],
    guess: list[str],
    confidences: list[float],
    texts: list[str],
    raw: list[tuple[str, float]] | None = None,
) -> Evaluation:
    """Metrics of predictions against the truth; split from `evaluate` so it is testable without a model.

    `raw` is each message's top intent and confidence before the fallback threshold, for the coverage curve.
    """
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
        fallback_rate=sum(g == FALLBACK for g in guess) / max(1, len(guess)),
        wrong_rate=sum(g != t and g != FALLBACK for t, g in zip(truth, guess, strict=True)) / max(1, len(guess)),
        curve=coverage_curve(truth, raw) if raw else [],
    )


def coverage_curve(truth: list[str], raw: list[tuple[str, float]]) -> list[tuple[float, float, float]]:
    """(threshold, share of messages answered, share of those answered right) for thresholds 0.00 … 0.95."""
    points = []
    for step in range(20):
        threshold = step / 20
        answered = [(t, g) for t, (g, c) in zip(truth, raw, strict=True) if c >= threshold]
        right = sum(t == g for t, g in answered)
        points.append((threshold, len(answered) / len(truth), right / len(answered) if answered else 1.0))
    return points


def best_threshold(curve: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """The fallback threshold with the lowest cost (a wrong answer 1, a fallback FALLBACK_COST), and its
    wrong-answer and fallback rates: a wrong answer misleads the buyer, a "您是想问…" only slows them."""

    def cost(point: tuple[float, float, float]) -> float:
        _, coverage, precision = point
        return coverage * (1 - precision) + FALLBACK_COST * (1 - coverage)

    threshold, coverage, precision = min(curve, key=cost)
    return threshold, coverage * (1 - precision), 1 - coverage


def parse_all(agent: Any, texts: list[str]) -> list[dict[str, Any]]:
    """The agent's NLU parse of every text, in order."""

    async def run() -> list[dict[str, Any]]:
        return [await agent.parse_message(text) for text in texts]

    return _run(run())


def _score_parses(model: str, examples: list[tuple[str, str]], parses: list[dict[str, Any]]) -> Evaluation:
    guesses, raw = [], []
    for parsed in parses:
        intent = parsed.get("intent") or {}
        guesses.append((intent.get("name") or FALLBACK, float(intent.get("confidence") or 0.0)))
        # The FallbackClassifier puts nlu_fallback on top of the ranking; the model's own guess is next.
        ranking = [r for r in parsed.get("intent_ranking") or [] if r.get("name") != FALLBACK]
        raw.append((ranking[0]["name"], float(ranking[0]["confidence"])) if ranking else guesses[-1])
    return score(
        model,
        [intent for intent, _ in examples],
        [name for name, _ in guesses],
        [confidence for _, confidence in guesses],
        [text for _, text in examples],
        raw,
    )


def evaluate(
    model_path: Path | str, test_set: Path = TEST_SET, real_test_set: Path | None = REAL_TEST_SET
) -> Evaluation:
    """Load a trained model and score it on the test set, and on the real-buyer test set if there is one."""
    from rasa.core.agent import Agent

    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"No trained model at {model_path}")
    agent = Agent.load(str(model_path))
    examples = nlu_examples(test_set)
    result = _score_parses(model_path.name, examples, parse_all(agent, [text for _, text in examples]))
    if real_test_set is not None and real_test_set.is_file():
        real = nlu_examples(real_test_set)
        result.real = _score_parses(model_path.name, real, parse_all(agent, [text for _, text in real]))
    return result


def training_examples() -> list[tuple[str, str]]:
    """(intent, plain text) of everything the model trains on (bot.training's data, real buyers included or not)."""
    from bot.training import data_paths

    return [
        (intent, plain_text(text))
        for path in data_paths()
        if path.parent.name != "data"  # rules, not NLU
        for intent, text in yaml_examples(path.read_text(encoding="utf-8"), path.name)
    ]


def peer(test_sets: list[Path], train: list[tuple[str, str]] | None = None) -> list[Evaluation]:
    """A plain character-n-gram TF-IDF + logistic regression trained once on the same data, scored on each
    test set: the bar to beat.

    No fallback, no normaliser beyond the shared one: if the model is not clearly better than this, the
    pipeline's complexity is not earning its keep.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from bot.nlu.text import normalize

    train = train if train is not None else training_examples()
    model = make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True), LogisticRegression(max_iter=2000)
    )
    model.fit([normalize(t) for _, t in train], [i for i, _ in train])
    classes = list(model.classes_)
    results = []
    for test_set in test_sets:
        examples = nlu_examples(test_set)
        probabilities = model.predict_proba([normalize(t) for _, t in examples])
        guesses = [(classes[row.argmax()], float(row.max())) for row in probabilities]
        results.append(
            score(
                "TF-IDF + LR",
                [i for i, _ in examples],
                [g for g, _ in guesses],
                [c for _, c in guesses],
                [t for _, t in examples],
                guesses,
            )
        )
    return results


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


def _curve_png_bytes(evaluation: Evaluation) -> bytes:
    """Precision against coverage as the fallback threshold moves, with the chosen threshold marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    thresholds, coverage, precision = zip(*evaluation.curve, strict=True)
    ax.plot(coverage, precision, marker="o", markersize=3)
    for t, c, p in evaluation.curve[::4]:
        ax.annotate(f"{t:.2f}", (c, p), textcoords="offset points", xytext=(4, 4), fontsize=7)
    chosen, wrong, fallback = best_threshold(evaluation.curve)
    point = next(p for p in evaluation.curve if p[0] == chosen)
    ax.plot([point[1]], [point[2]], marker="*", markersize=14, color="darkred")
    ax.annotate(f"threshold {chosen:.2f}: wrong {wrong:.1%}, fallback {fallback:.1%}", (point[1], point[2]),
                textcoords="offset points", xytext=(-150, -22), fontsize=8, color="darkred")  # fmt: skip
    ax.set_xlabel("coverage (share answered rather than asked to clarify)")
    ax.set_ylabel("precision of the answered")
    ax.set_title(f"{evaluation.model}: precision / coverage by fallback threshold", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def curve_png(evaluation: Evaluation, path: Path | str) -> Path:
    """Write the precision/coverage curve as a PNG picture and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_curve_png_bytes(evaluation))
    return path


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


def _set_reasons(candidate: Evaluation, serving: Evaluation, tolerance: float, where: str) -> list[str]:
    """Why the candidate is worse than the serving model on one test set ("" or "真实买家测试集" for `where`)."""
    zh_where, en_where = (f"{where}：", " on the real-buyer test set") if where else ("", "")
    reasons = []
    for zh, label, old, new in (
        ("准确率", "accuracy", serving.accuracy, candidate.accuracy),
        ("宏平均 F1", "macro-F1", serving.macro_f1, candidate.macro_f1),
    ):
        if old - new > tolerance + _EPSILON:
            reasons.append(
                f"{zh_where}{zh}从 {old:.3f} 降到 {new:.3f}，超过允许的 {tolerance:.3f}"
                f"（{label} fell from {old:.3f} to {new:.3f}{en_where}, more than the allowed {tolerance:.3f} tolerance.）"
            )
    # Core intents: a real drop, not one or two messages flipping by chance (the sets are samples).
    for intent in CORE_INTENTS:
        old, new = serving.f1(intent), candidate.f1(intent)
        if old - new <= _EPSILON:
            continue
        worse, better = newly_wrong(candidate, serving, intent), newly_wrong(serving, candidate, intent)
        if len(worse) - len(better) < CORE_NET_FLIPS:
            continue
        flipped = "；".join(f"“{text}” → {got}" for text, got in worse[:10])
        reasons.append(
            f"{zh_where}核心意图 {intent} 的 F1 从 {old:.3f} 降到 {new:.3f}，新答错 {len(worse)} 条、新答对 {len(better)} 条"
            + (f"；新答错：{flipped}" if flipped else "")
            + f"（{intent} F1 fell from {old:.3f} to {new:.3f}{en_where}: {len(worse)} of its messages newly wrong, "
            f"{len(better)} newly right; a core intent may not lose {CORE_NET_FLIPS} or more on balance.）"
        )
    return reasons


def gate(candidate: Evaluation, serving: Evaluation | None, tolerance: float = 0.01) -> GateResult:
    """Refuse a candidate that is worse than the serving model on either test set, or weak on a core intent."""
    # Each reason in Chinese for the trainers' console, then in English for operators' logs.
    reasons = []
    if serving is not None:
        reasons += _set_reasons(candidate, serving, tolerance, "")
        if candidate.real is not None and serving.real is not None:
            reasons += _set_reasons(candidate.real, serving.real, tolerance, "真实买家测试集")
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
    if candidate.real is not None and candidate.real.curve:
        curve_png(candidate.real, report.with_name(report.stem + "-curve.png"))
    return picture


def _real_section(real: Evaluation, serving: Evaluation | None) -> list[str]:
    """The real-buyer test set: headline figures, the precision/coverage curve, core intents, the errors."""
    e = html.escape
    chosen, wrong, fallback = best_threshold(real.curve) if real.curve else (0.0, real.wrong_rate, real.fallback_rate)
    rows = [
        ("准确率 accuracy", "accuracy"),
        ("宏平均 F1 macro-F1", "macro_f1"),
        ("答错率 wrong answers", "wrong_rate"),
        ("兜底率 fallbacks", "fallback_rate"),
    ]
    parts = [f"<h2>真实买家测试集（{sum(v['support'] for v in real.per_intent.values())} 条真实消息）</h2><table>"]
    parts.append("<tr><th>指标</th>" + ("<th>线上模型</th>" if serving else "") + "<th>候选模型</th></tr>")
    for label, name in rows:
        old = f"<td>{getattr(serving, name):.3f}</td>" if serving else ""
        parts.append(f'<tr><td class="name">{label}</td>{old}<td>{getattr(real, name):.3f}</td></tr>')
    for intent in CORE_INTENTS:
        old = f"<td>{serving.f1(intent):.3f}</td>" if serving else ""
        parts.append(f'<tr class="core"><td class="name">F1 {e(intent)} ★</td>{old}<td>{real.f1(intent):.3f}</td></tr>')
    parts.append("</table>")
    if real.curve:
        png = base64.b64encode(_curve_png_bytes(real)).decode("ascii")
        parts.append(
            f"<p>兜底阈值：成本最低的阈值是 {chosen:.2f}（答错 {wrong:.1%}，兜底 {fallback:.1%}；"
            f"答错一次的代价按一次“您是想问…”的 {1 / FALLBACK_COST:.1f} 倍计）。</p>"
        )
        parts.append(f'<img alt="precision / coverage curve" src="data:image/png;base64,{png}">')
    parts.append(f"<h3>答错的真实消息（前 100 条，共 {len(real.errors)} 条）</h3>")
    parts.append("<table><tr><th>应为 expected</th><th>预测 predicted</th><th>置信度</th><th>消息 text</th></tr>")
    for expected, predicted, confidence, text in real.errors[:100]:
        parts.append(
            f'<tr><td class="name">{e(expected)}</td><td class="name">{e(predicted)}</td>'
            f'<td>{confidence:.2f}</td><td class="text">{e(text)}</td></tr>'
        )
    parts.append("</table>")
    return parts


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

    if candidate.real is not None:
        parts += _real_section(candidate.real, serving.real if serving else None)

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


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.trainer.evaluation MODEL OUT.json`: evaluate in a process of its own.

    Loading a model brings in Rasa and TensorFlow (~1 GB); the supervisor and the retrain job
    run this instead, so their own memory stays small (bot.trainer.pipeline.evaluation_of).
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bot.trainer.evaluation", description=main.__doc__)
    parser.add_argument("model", type=Path)
    parser.add_argument("out", type=Path, help="where to write the evaluation as JSON")
    args = parser.parse_args(argv)
    result = evaluate(args.model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(f".partial-{args.out.name}")  # a killed run leaves no half-written cache
    partial.write_text(result.to_json(), encoding="utf-8")
    partial.replace(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
