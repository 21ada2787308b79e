"""The trainers' console: inbox, training examples, retraining, evaluation and model versions.

A JSON API for bot/web/static/trainer.html, served by the chat gateway with its own
accounts (trainers, not agents). Every change to the training data goes through
`bot.trainer.examples.TrainingData`, so the console and `./shop nlu` refuse the same
bad examples with the same reasons; retraining runs as a background job.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import select

from bot.config import settings
from bot.db import run_in_session
from bot.models import TrainerAccount
from bot.policy import policy
from bot.processes import service_env
from bot.trainer import agreement, inbox, registry
from bot.trainer.examples import ExampleError, TrainingData
from bot.trainer.pipeline import Progress, data_problems, reports_dir
from bot.training import MODELS_DIR
from bot.vocabulary import INBOX_REASON, TRAINER_INTENT_LABEL
from bot.web.accounts import TRAINER
from bot.web.http import answer, html_page, json_body, login_routes, refusal, refuse, require
from bot.web.training_jobs import JobRunning, TrainingJobs

T = TypeVar("T")
_PAGE = Path(__file__).with_name("static") / "trainer.html"
_REPORT_FILE = re.compile(r"^[\w.@-]+\.(html|png)$")


def add_routes(app: web.Application) -> None:
    app["training_jobs"] = TrainingJobs()
    app.on_shutdown.append(lambda app: app["training_jobs"].stop())
    login, logout, me = login_routes(TRAINER)
    app.router.add_get("/trainer", lambda _: html_page(_PAGE))
    app.router.add_post("/api/trainer/login", login)
    app.router.add_post("/api/trainer/logout", logout)
    app.router.add_get("/api/trainer/me", me)
    app.router.add_get("/api/trainer/intents", list_intents)
    app.router.add_get("/api/trainer/inbox", list_inbox)
    app.router.add_get("/api/trainer/inbox/bulk", bulk_inbox)
    app.router.add_get("/api/trainer/inbox/agreement", inbox_agreement)
    app.router.add_post("/api/trainer/inbox/{id}", decide_inbox_item)
    app.router.add_delete("/api/trainer/inbox/{id}/label", undo_inbox_label)
    app.router.add_get("/api/trainer/examples", list_examples)
    app.router.add_post("/api/trainer/examples", add_example)
    app.router.add_put("/api/trainer/examples", edit_example)
    app.router.add_delete("/api/trainer/examples", delete_example)
    app.router.add_post("/api/trainer/validate", validate)
    app.router.add_get("/api/trainer/retrain", retrain_status)
    app.router.add_post("/api/trainer/retrain", start_retrain)
    app.router.add_get("/api/trainer/reports/{file}", report_file)
    app.router.add_get("/api/trainer/models", list_models)
    app.router.add_post("/api/trainer/models/activate", activate_model)
    app.router.add_post("/api/trainer/models/rollback", rollback_model)


async def _trainer(request: web.Request) -> str:
    return await require(request, TRAINER)


# --- training data ----------------------------------------------------------------


async def list_intents(request: web.Request) -> web.Response:
    await _trainer(request)

    def count() -> list[dict[str, Any]]:
        data = TrainingData()
        counts = data.counts()
        return [
            {
                "name": intent,
                "label": TRAINER_INTENT_LABEL.get(intent, intent),
                "train": counts[intent, False],
                "test": counts[intent, True],
            }
            for intent in data.intents()
        ]

    return answer(await _data(count))


async def _data(work: Callable[[], T]) -> T:
    """Run a TrainingData operation off the event loop; its refusal becomes a 400 with the reason."""
    try:
        return await asyncio.to_thread(work)
    except ExampleError as exc:
        raise refusal(str(exc)) from None


async def list_examples(request: web.Request) -> web.Response:
    await _trainer(request)
    q = request.query
    intent, search, test = q.get("intent") or None, q.get("search") or None, q.get("test") == "1"

    def find() -> list[dict[str, str]]:
        return [e._asdict() for e in TrainingData().examples(intent, search, test=test)]

    return answer(await _data(find))


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise refusal(f"缺少 {key}（'{key}' must be a string）")
    return value


async def add_example(request: web.Request) -> web.Response:
    await _trainer(request)
    body = await json_body(request)
    intent, text, test = _text(body, "intent"), _text(body, "text"), bool(body.get("test"))
    return answer(await _data(lambda: TrainingData().add(intent, text, as_test=test)._asdict()), 201)


async def edit_example(request: web.Request) -> web.Response:
    await _trainer(request)
    body = await json_body(request)
    intent, old, new = _text(body, "intent"), _text(body, "text"), _text(body, "new_text")
    return answer(await _data(lambda: TrainingData().edit(intent, old, new)._asdict()))


async def delete_example(request: web.Request) -> web.Response:
    await _trainer(request)
    body = await json_body(request)
    intent, text = _text(body, "intent"), _text(body, "text")

    def delete() -> dict[str, bool]:
        TrainingData().delete(intent, text)
        return {"ok": True}

    return answer(await _data(delete))


# --- inbox ------------------------------------------------------------------------


def _item_json(item: inbox.InboxItem) -> dict[str, Any]:
    reasons = sorted(item.reasons)
    return {
        "id": item.id,
        "text": item.text,
        "count": item.count,
        "reasons": reasons,
        "reason_labels": [INBOX_REASON.get(r, r) for r in reasons],
        "source": item.source,
        "top3": item.top3,
        "margin": None if item.margin is None else round(item.margin, 4),
        "suggestions": [r["intent"] for r in item.top3 if r.get("intent") in TRAINER_INTENT_LABEL],
        "context": [{"speaker": speaker, "text": text} for speaker, text in item.context],
    }


async def list_inbox(request: web.Request) -> web.Response:
    await _trainer(request)
    items = await run_in_session(lambda s: inbox.collect(s))
    return answer([_item_json(item) for item in items])


def _number(query: Any, key: str) -> float | None:
    value = query.get(key)
    if value in (None, ""):
        return None
    try:
        return min(1.0, max(0.0, float(value)))
    except ValueError:
        raise refusal(f"{key} 应是 0 到 1 之间的数（'{key}' must be a number from 0 to 1）") from None


BULK_PAGE = 50  # the console asks for more as the trainer works through them


async def bulk_inbox(request: web.Request) -> web.Response:
    """One page of the bulk-labelling queue, filtered and ordered, with what the filters offer and the counts."""
    me = await _trainer(request)
    q = request.query
    scope = q.get("scope") or "open"
    if scope not in ("open", "review"):
        return refuse("scope 只能是 open 或 review")
    order = q.get("order") or "frequency"
    if order not in ("frequency", "uncertainty"):
        return refuse("排序只能是 frequency 或 uncertainty")
    filters = inbox.Filters(
        q.get("source") or None, q.get("intent") or None, _number(q, "min"), _number(q, "max"), order
    )

    def page(s: Any) -> dict[str, Any]:
        review = inbox.to_review(s, me)
        everything = inbox.collect(s, limit=None) if scope == "open" else review
        chosen = inbox.arrange(everything, filters)
        labels = inbox.labels(s)
        return {
            "items": [_item_json(item) for item in chosen[:BULK_PAGE]],
            "left": len(chosen),
            "total": len(everything),
            "sources": sorted({item.source for item in everything if item.source}),
            "intents": sorted({item.top_intent for item in everything if item.top_intent}),
            "mine": sum(label.trainer == me for label in labels),
            "to_review": len(review),
        }

    return answer(await run_in_session(page))


def _agreement_json(s: Any) -> dict[str, Any]:
    names = dict(s.execute(select(TrainerAccount.username, TrainerAccount.display_name)).all())
    found = agreement.agreement(inbox.labels(s))

    def who(trainer: str) -> str:
        return names.get(trainer) or trainer

    return {
        "lines": found.lines,
        "agreed": found.agreed,
        "rate": found.rate,
        "pairs": [
            {"trainers": [who(t) for t in p.trainers], "lines": p.lines, "agreed": p.agreed, "kappa": p.kappa}
            for p in found.pairs
        ],
        "disagreements": [
            {"text": d["text"], "labels": [{**label, "trainer": who(label["trainer"])} for label in d["labels"]]}
            for d in found.disagreements[:20]
        ],
    }


async def inbox_agreement(request: web.Request) -> web.Response:
    await _trainer(request)
    return answer(await run_in_session(_agreement_json))


def _others(s: Any, key: str, me: str) -> list[dict[str, Any]]:
    """Other trainers' labels of a line, shown once this trainer has given theirs (labelling stays blind)."""
    names = dict(s.execute(select(TrainerAccount.username, TrainerAccount.display_name)).all())
    return [
        {
            "trainer": names.get(label.trainer) or label.trainer,
            "label": agreement.label_value(label.decision, label.intent),
        }
        for label in inbox.labels(s, key)
        if label.trainer != me
    ]


async def decide_inbox_item(request: web.Request) -> web.Response:
    """Label, put in the test set or dismiss an inbox line; a line another trainer decided gets a second opinion."""
    me = await _trainer(request)
    body = await json_body(request)
    action = body.get("action")
    if action not in ("label", "test", "dismiss"):
        return refuse("操作只能是 label、test 或 dismiss")
    item_id = request.match_info["id"]
    decision = {"label": "labelled", "test": "test", "dismiss": "dismissed"}[action]
    intent = None if action == "dismiss" else _text(body, "intent")
    item = await run_in_session(lambda s: inbox.find(s, item_id))
    if item is None:
        return await _second_opinion(item_id, me, decision, intent)
    file, text = None, item.text
    if intent is not None:
        example = await _data(lambda: TrainingData().add(intent, item.text, as_test=action == "test"))
        file, text = example.file, example.text
    now = policy().now()

    def record(s: Any) -> list[dict[str, Any]]:
        inbox.decide(s, item.key, decision, intent, now, trainer=me, text=text)
        return _others(s, item.key, me)

    return answer({"ok": True, "file": file, "others": await run_in_session(record)})


async def _second_opinion(item_id: str, me: str, decision: str, intent: str | None) -> web.Response:
    if intent is not None and intent not in await _data(TrainingData().intents):
        return refuse(f"没有这个意图：{intent}")
    now = policy().now()

    def record(s: Any) -> dict[str, Any] | None:
        found = inbox.find_labelled(s, item_id)
        if found is None:
            return None
        key, text = found
        if inbox.label_of(s, key, me) is not None:
            return {"error": "你已经标注过这条了"}
        inbox.second_opinion(s, key, text, me, decision, intent, now)
        return {"ok": True, "file": None, "second_opinion": True, "others": _others(s, key, me)}

    result = await run_in_session(record)
    if result is None:
        return refuse("这条消息已经处理过了，或者不存在", 404)
    return refuse(result["error"], 409) if "error" in result else answer(result)


async def undo_inbox_label(request: web.Request) -> web.Response:
    """Take back this trainer's label of a line: the example it wrote is removed, the line is open again."""
    me = await _trainer(request)
    item_id = request.match_info["id"]

    def mine(s: Any) -> tuple[str, str | None, str, str, bool] | None:
        found = inbox.find_labelled(s, item_id)
        label = found and inbox.label_of(s, found[0], me)
        return label and (label.key, label.intent, label.text, label.decision, label.decided)

    found = await run_in_session(mine)
    if not found:
        return refuse("没有可以撤销的标注", 404)
    key, intent, text, decision, decided = found
    file = None
    if decided and intent and decision in ("labelled", "test"):
        file = (await _data(lambda: TrainingData().delete(intent, text))).file

    def forget(s: Any) -> None:
        label = inbox.label_of(s, key, me)
        if label is not None:
            inbox.forget(s, label)

    await run_in_session(forget)
    return answer({"ok": True, "file": file})


# --- validation, retraining, reports ---------------------------------------------------


async def validate(request: web.Request) -> web.Response:
    await _trainer(request)
    output: list[str] = []
    progress = Progress(lambda event: output.append(event["log"]) if "log" in event else None)
    problems = await asyncio.to_thread(data_problems, service_env(), progress)
    return answer({"ok": not problems, "problems": problems, "output": "\n".join(output[-40:])})


def _job_json(job: dict[str, Any] | None) -> dict[str, Any] | None:
    """A job as the console reads it: report files as URLs."""
    if job is None or not job.get("result"):
        return job
    result = dict(job["result"])
    for key, url_key in (("report", "report_url"), ("confusion", "confusion_url")):
        result[url_key] = f"/api/trainer/reports/{result[key]}" if result.get(key) else None
    return {**job, "result": result}


async def retrain_status(request: web.Request) -> web.Response:
    await _trainer(request)
    return answer({"job": _job_json(request.app["training_jobs"].latest())})


async def start_retrain(request: web.Request) -> web.Response:
    await _trainer(request)
    try:
        job = request.app["training_jobs"].start()
    except JobRunning:
        return refuse("已有训练任务在进行中，请等它结束", 409)
    return answer({"job": _job_json(job.snapshot())}, 202)


async def report_file(request: web.Request) -> web.StreamResponse:
    await _trainer(request)
    name = request.match_info["file"]
    path = reports_dir() / name
    if not _REPORT_FILE.fullmatch(name) or not path.is_file():
        return refuse("没有这份报告", 404)
    return html_page(path) if path.suffix == ".html" else web.FileResponse(path)


# --- model versions ---------------------------------------------------------------


async def list_models(request: web.Request) -> web.Response:
    await _trainer(request)
    current = registry.load()
    previous = registry.previous(current)
    return answer(
        [
            {
                "name": path.name,
                "created": datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M"),
                "size_mb": round(path.stat().st_size / 1_000_000, 1),
                "active": path.name == current.active,
                "previous": path.name == previous,
            }
            for path in registry.models()
        ]
    )


async def _serve(name: str) -> web.Response:
    """Make `name` the serving model in the running Rasa servers too; swapped=False when one did not switch."""
    not_switched = await asyncio.to_thread(registry.serve, name, settings().rasa_replicas)
    return answer({"active": name, "swapped": not_switched is None})


async def activate_model(request: web.Request) -> web.Response:
    await _trainer(request)
    name = _text(await json_body(request), "name")
    if not re.fullmatch(r"shop-[0-9a-f]+\.tar\.gz", name) or not (MODELS_DIR / name).is_file():
        return refuse(f"没有这个模型：{name}", 404)
    return await _serve(name)


async def rollback_model(request: web.Request) -> web.Response:
    await _trainer(request)
    try:
        name = registry.rollback()
    except LookupError:
        return refuse("没有可以回退的旧模型", 409)
    return await _serve(name)
