"""Refunds, returns, exchanges, quality problems and wrong or missing items.

One form (after_sale_form) serves them all: it identifies the order, checks what
the order is eligible for, asks how the buyer wants it solved and why, then the
submit action creates the request (once: asking twice does not create two).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import Events, ShopAction, db, latest_intent, latest_text, now
from actions.handoff import hand_off
from actions.order_identity import OrderFormValidation, form_clues, visible_order
from actions.side_questions import answer_postage_question
from bot.models import AfterSaleKind
from bot.policy import policy
from bot.policy_answers import policy_answer
from bot.shop import after_sale, orders
from bot.shop.after_sale import Eligibility, RequestView, Verdict
from bot.vocabulary import AFTER_SALE_KIND, AFTER_SALE_REASON

# What a buyer's own words say about the reason, when they did not press a button.
_REASON_BY_INTENT = {
    "quality_issue": "quality",
    "color_difference": "color_difference",
    "ask_size": "size",
}
_REASON_WORDS = [
    (re.compile(r"少发|漏发|少了|缺了|没发全|空包"), "missing_item"),
    (re.compile(r"发错|错发|不是我买的|不是我要的"), "wrong_item"),
    (re.compile(r"色差|颜色不一样|颜色不对"), "color_difference"),
    (re.compile(r"坏|破|起球|掉色|褪色|开线|线头|漏|异味|味道|断|质量"), "quality"),
    (re.compile(r"尺码|大了|小了|不合身|偏大|偏小|太长|太短"), "size"),
    (re.compile(r"无理由|七天|7天"), "no_reason"),
    (re.compile(r"不喜欢|不想要|不要了|买多了|拍错"), "dislike"),
]
_KIND_WORDS = [
    (re.compile(r"换"), AfterSaleKind.EXCHANGE),
    (re.compile(r"补发|补寄"), AfterSaleKind.REISSUE),
    (re.compile(r"仅退款|只退款|不退货"), AfterSaleKind.REFUND_ONLY),
    (re.compile(r"退货"), AfterSaleKind.RETURN_REFUND),
]
_OUR_MISTAKE = ("wrong_item", "missing_item")
# Intents a free-text answer to "why?" tends to get; anything else is a new question.
_OWN_WORDS_INTENTS = ("request_refund", "request_exchange", "deny", "out_of_scope", "inform_order_id")
# Progress questions about an existing request, rather than a new request.
_PROGRESS = re.compile(r"进度|到哪|到账|怎么还没|什么时候退|多久.*退|退了没|处理.*了吗|审核")


def _reason_of(intent: str | None, text: str) -> str | None:
    if intent == "wrong_or_missing_item":
        return "missing_item" if _REASON_WORDS[0][0].search(text) else "wrong_item"
    for pattern, reason in _REASON_WORDS:
        if pattern.search(text):
            return reason
    return _REASON_BY_INTENT.get(intent or "")


def _kind_of(intent: str | None, text: str) -> str | None:
    if intent == "request_exchange":
        return AfterSaleKind.EXCHANGE
    for pattern, kind in _KIND_WORDS:
        if pattern.search(text):
            return kind
    return None


def _from_clues(tracker: Tracker, read: Callable[[str | None, str], str | None]) -> str | None:
    """The first reason or kind `read` finds in the latest message or the one that started the form."""
    return next((found for found in (read(*clue) for clue in form_clues(tracker, "after_sale_form")) if found), None)


class ValidateAfterSaleForm(OrderFormValidation):
    def name(self) -> str:
        return "validate_after_sale_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        if tracker.get_slot("requested_slot") is None:  # the message that starts the return: 我要退货 运费谁出
            answer_postage_question(dispatcher, latest_text(tracker))
        return await super().run(dispatcher, tracker, domain)

    async def on_order_verified(self, tracker: Tracker) -> dict[str, Any]:
        """What the buyer already told us before we knew the order: kind and reason."""
        found: dict[str, Any] = {}
        reason = tracker.get_slot("after_sale_reason") or _from_clues(tracker, _reason_of)
        if reason:
            found["after_sale_reason"] = reason
        eligibility = await _eligibility(tracker)
        kind = tracker.get_slot("after_sale_kind") or _from_clues(tracker, _kind_of)
        # The shop's own mistake: the buyer chooses the remedy (exchange, reissue or refund), never us.
        if kind not in eligibility.allowed_kinds and len(eligibility.allowed_kinds) == 1 and reason not in _OUR_MISTAKE:
            kind = eligibility.allowed_kinds[0]
        if kind in eligibility.allowed_kinds:
            found["after_sale_kind"] = kind
        return found

    async def slots_after_order(self, tracker: Tracker) -> list[str]:
        verdict = await _eligibility(tracker)
        if verdict.verdict not in (Verdict.OK, Verdict.NO_REASON_EXPIRED):
            return []  # nothing to ask: the submit action explains
        if _PROGRESS.search(latest_text(tracker)) and not tracker.get_slot("after_sale_kind"):
            return []
        return ["after_sale_kind", "after_sale_reason"]

    async def extract_after_sale_kind(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        if tracker.get_slot("after_sale_kind"):
            return {}
        kind = _kind_of(latest_intent(tracker), latest_text(tracker))
        return {"after_sale_kind": kind} if kind else {}

    async def extract_after_sale_reason(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        if tracker.get_slot("after_sale_reason"):
            return {}
        reason = _reason_of(latest_intent(tracker), latest_text(tracker))
        typed = latest_text(tracker).strip()
        if (
            reason is None
            and tracker.get_slot("requested_slot") == "after_sale_reason"
            and latest_intent(tracker) in _OWN_WORDS_INTENTS
            and typed
            and not typed.startswith("/")
        ):
            # A reason in the buyer's own words that fits no category: "dislike", and the
            # words themselves are stored as the request's detail.
            reason = "dislike"
        return {"after_sale_reason": reason} if reason else {}

    async def validate_after_sale_kind(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        # A kind this order cannot have (e.g. exchange before delivery) is asked again.
        eligibility = await _eligibility(tracker)
        return {"after_sale_kind": value if value in eligibility.allowed_kinds else None}

    def validate_after_sale_reason(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        return {"after_sale_reason": value if value in AFTER_SALE_REASON else None}


async def _eligibility(tracker: Tracker) -> Eligibility:
    order_id = tracker.get_slot("order_id")
    reason = tracker.get_slot("after_sale_reason") or _from_clues(tracker, _reason_of)
    p, at = policy(), now()
    return await db(lambda s: after_sale.eligibility(s, order_id, p, at, reason))


class ActionAskAfterSaleKind(ShopAction):
    """Offers only the kinds of service this order can actually get."""

    def name(self) -> str:
        return "action_ask_after_sale_kind"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        eligibility = await _eligibility(tracker)
        buttons = [
            {"title": AFTER_SALE_KIND[k], "payload": f'/request_refund{{"after_sale_kind":"{k}"}}'}
            for k in eligibility.allowed_kinds
        ]
        dispatcher.utter_message(response="utter_ask_after_sale_kind", buttons=buttons)
        return []


class ActionSubmitAfterSale(ShopAction):
    def name(self) -> str:
        return "action_submit_after_sale"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        reset = [SlotSet("after_sale_kind", None), SlotSet("after_sale_reason", None)]
        order_id = visible_order(dispatcher, tracker)
        if order_id is None:
            return reset
        p, at = self.policy, now()
        kind = tracker.get_slot("after_sale_kind")
        reason = tracker.get_slot("after_sale_reason")
        eligibility = await db(lambda s: after_sale.eligibility(s, order_id, p, at, reason))
        verdict = eligibility.verdict

        if verdict == Verdict.IN_PROGRESS:
            _tell_existing(dispatcher, await db(lambda s: after_sale.open_request(s, order_id)))
            return reset
        if verdict == Verdict.NOT_PAID:
            dispatcher.utter_message(response="utter_after_sale_not_paid", order_id=order_id)
            return reset
        if verdict == Verdict.CLOSED:
            latest = await db(lambda s: after_sale.latest_request(s, order_id))
            if latest and _PROGRESS.search(latest_text(tracker)):
                dispatcher.utter_message(
                    response="utter_after_sale_progress", order_id=order_id, kind=latest.kind_label,
                    request_id=latest.id, status=latest.status_label,
                )  # fmt: skip
                return reset
            order = await db(lambda s: orders.get_order(s, order_id, p, at))
            dispatcher.utter_message(response="utter_after_sale_closed", order_id=order_id, status=order.status_label)
            return reset
        if verdict == Verdict.EXPIRED:
            dispatcher.utter_message(
                response="utter_after_sale_expired", order_id=order_id, days=eligibility.days_since_delivery,
                quality_days=p.quality_days,
            )  # fmt: skip
            return reset + await hand_off(dispatcher, tracker, "policy", order_id=order_id)
        if verdict == Verdict.NO_REASON_EXPIRED or not kind or not reason:
            dispatcher.utter_message(
                response="utter_after_sale_no_reason_expired", order_id=order_id,
                days=eligibility.days_since_delivery, no_reason_days=p.no_reason_days, quality_days=p.quality_days,
            )  # fmt: skip
            return reset

        if reason in ("quality",):
            dispatcher.utter_message(response="utter_quality_sorry")
        elif reason in ("wrong_item", "missing_item"):
            dispatcher.utter_message(response="utter_wrong_item_sorry")
        request, created = await db(
            lambda s: after_sale.create_request(s, order_id, kind, reason, latest_text(tracker), p, at)
        )
        if not created:
            _tell_existing(dispatcher, request)
            return reset
        dispatcher.utter_message(
            response="utter_after_sale_created", kind=request.kind_label, request_id=request.id,
            reason=request.reason_label,
        )  # fmt: skip
        step = f"utter_after_sale_step_{request.kind}"
        dispatcher.utter_message(response=step, **policy_answer(step, p))
        if request.kind in (AfterSaleKind.RETURN_REFUND, AfterSaleKind.EXCHANGE):
            postage = _postage_response(request, p)
            dispatcher.utter_message(response=postage, **policy_answer(postage, p))
        return reset


def _tell_existing(dispatcher: CollectingDispatcher, request: RequestView) -> None:
    dispatcher.utter_message(
        response="utter_after_sale_exists", order_id=request.order_id, kind=request.kind_label,
        request_id=request.id, created=f"{request.created_at:%m月%d日}", status=request.status_label,
    )  # fmt: skip


def _postage_response(request: RequestView, p: Any) -> str:
    if request.postage_payer == "seller":
        return "utter_after_sale_postage_seller"
    return "utter_after_sale_postage_buyer_insured" if p.freight_insurance else "utter_after_sale_postage_buyer"
