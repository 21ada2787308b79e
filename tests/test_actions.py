"""Each custom action against a real, seeded shop database (SQLite and PostgreSQL).

The action runs as the action server would run it; we assert on what it tells the
buyer (response names and the numbers passed in), the events it returns, and what
it wrote to the database.
"""

from __future__ import annotations

from typing import Any

import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from sqlalchemy import func, select

from actions.after_sale import ActionSubmitAfterSale, ValidateAfterSaleForm
from actions.change_order import ActionSubmitChangeOrder
from actions.handoff import ActionHandoff
from actions.logistics import ActionShippingTime, ActionTrackOrder
from actions.presale import ActionAuthenticity, ActionBargain, ActionProductInfo, ActionSizeAdvice
from actions.session import ActionReply, ActionSessionStart
from bot import db
from bot.config import PROJECT_ROOT
from bot.models import AfterSaleRequest, HandoffTicket, Order, Shipment
from bot.seed import DEMO_BUYER, DEMO_ORDERS, OTHER_BUYER_ORDER


def tracker(
    text: str = "",
    intent: str | None = None,
    entities: list[dict[str, Any]] | None = None,
    slots: dict[str, Any] | None = None,
    sender: str = "action-test",
    events: list[dict[str, Any]] | None = None,
) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.99}, "entities": entities or []}
    return Tracker(sender, slots or {}, latest, events or [], False, None, {}, "action_listen")


def entity(name: str, value: str) -> dict[str, Any]:
    return {"entity": name, "value": value}


async def run(action: Any, t: Tracker, domain: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, domain)
    return dispatcher.messages, events


def responses(messages: list[dict]) -> list[str]:
    return [m["response"] for m in messages if m.get("response")]


def slot_events(events: list[dict]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


BUYER_SLOTS = {"buyer_id": DEMO_BUYER}


async def test_authenticity_names_the_products_own_credentials(shop_url: str, domain: dict) -> None:
    messages, _ = await run(ActionAuthenticity(), tracker("四件套正品吗", "ask_authenticity", [entity("product", "纯棉四件套")]), domain)  # fmt: skip
    assert responses(messages) == ["utter_authenticity_product"]
    assert "新疆棉溯源证书" in messages[0]["product_credentials"]
    assert messages[0]["compensation"] == "假一赔三"


async def test_bargaining_moves_one_concession_per_round(shop_url: str, domain: dict) -> None:
    said = []
    rounds = 0.0
    for _ in range(4):
        messages, events = await run(
            ActionBargain(), tracker("便宜点", "bargain", slots={"bargain_rounds": rounds}), domain
        )
        said += responses(messages)
        rounds = slot_events(events)["bargain_rounds"]
    assert said == ["utter_bargain_value", "utter_bargain_coupon", "utter_bargain_gift", "utter_bargain_final"]
    assert rounds == 4


async def test_shipping_time_for_courier_region_and_paid_order(shop_url: str, domain: dict) -> None:
    messages, _ = await run(ActionShippingTime(), tracker("能发顺丰吗", "ask_shipping_time", [entity("courier", "顺丰")]), domain)  # fmt: skip
    assert responses(messages) == ["utter_shipping_courier"] and "12" in messages[0]["surcharge_note"]
    messages, _ = await run(ActionShippingTime(), tracker("发西藏几天", "ask_shipping_time", [entity("location", "西藏")]), domain)  # fmt: skip
    assert messages[0]["region"] == "偏远地区" and messages[0]["days"] == "5-7"
    messages, _ = await run(
        ActionShippingTime(), tracker("什么时候发货", "ask_shipping_time", slots=BUYER_SLOTS), domain
    )
    assert responses(messages) == ["utter_shipping_my_order"] and messages[0]["order_id"] == DEMO_ORDERS["paid"]


async def test_tracking_a_late_parcel_offers_to_chase_and_chases(shop_url: str, domain: dict) -> None:
    order = DEMO_ORDERS["late"]
    slots = {**BUYER_SLOTS, "order_id": order, "verified_orders": [order]}
    messages, _ = await run(ActionTrackOrder(), tracker("到哪了", "track_order", slots=slots), domain)
    assert responses(messages) == ["utter_order_status", "utter_order_late"]
    assert messages[1]["custom"]["order_card"]["order_id"] == order
    messages, _ = await run(ActionTrackOrder(), tracker("催", "track_order", slots={**slots, "urge": "yes"}), domain)
    assert "utter_order_urged" in responses(messages)
    with db.session_scope() as s:
        assert s.scalar(select(Shipment.urged_at).where(Shipment.order_id == order)) is not None


async def test_tracking_needs_a_verified_order(shop_url: str, domain: dict) -> None:
    slots = {**BUYER_SLOTS, "order_id": OTHER_BUYER_ORDER}
    messages, events = await run(ActionTrackOrder(), tracker("到哪了", "track_order", slots=slots), domain)
    assert messages == [] and events == []


async def test_a_lost_parcel_opens_a_ticket_and_pauses_the_bot(shop_url: str, domain: dict) -> None:
    order = DEMO_ORDERS["lost"]
    slots = {**BUYER_SLOTS, "order_id": order, "verified_orders": [order]}
    messages, events = await run(
        ActionTrackOrder(), tracker("丢了吗", "track_order", slots=slots, sender="lost-1"), domain
    )
    assert "utter_order_lost" in responses(messages)
    assert any(e["event"] == "pause" for e in events)
    with db.session_scope() as s:
        ticket = s.scalars(select(HandoffTicket).where(HandoffTicket.conversation_id == "lost-1")).one()
    assert ticket.reason == "lost_parcel" and ticket.order_id == order


async def test_validation_refuses_someone_elses_order(shop_url: str, domain: dict) -> None:
    t = tracker(OTHER_BUYER_ORDER, "inform_order_id", [entity("order_id", OTHER_BUYER_ORDER)], slots=BUYER_SLOTS)
    t.slots["requested_slot"] = "order_id"
    t.events = [{"event": "user", "text": OTHER_BUYER_ORDER}, {"event": "slot", "name": "order_id", "value": OTHER_BUYER_ORDER}]  # fmt: skip
    messages, events = await run(ValidateAfterSaleForm(), t, domain)
    assert responses(messages) == ["utter_order_not_found"]
    assert slot_events(events)["order_id"] is None


async def test_submitting_a_refund_creates_it_once(shop_url: str, domain: dict) -> None:
    order = DEMO_ORDERS["delivered_recent"]
    slots = {**BUYER_SLOTS, "order_id": order, "verified_orders": [order], "after_sale_kind": "return_refund", "after_sale_reason": "size"}  # fmt: skip
    messages, events = await run(
        ActionSubmitAfterSale(), tracker("/request_refund", "request_refund", slots=slots), domain
    )
    assert responses(messages) == ["utter_after_sale_created", "utter_after_sale_step_return_refund", "utter_after_sale_postage_buyer_insured"]  # fmt: skip
    assert slot_events(events) == {"after_sale_kind": None, "after_sale_reason": None}
    messages, _ = await run(ActionSubmitAfterSale(), tracker("/request_refund", "request_refund", slots=slots), domain)
    assert responses(messages) == ["utter_after_sale_exists"]
    with db.session_scope() as s:
        assert (
            s.scalar(select(func.count()).select_from(AfterSaleRequest).where(AfterSaleRequest.order_id == order)) == 1
        )
        assert s.get(Order, order).status == "refunding"


async def test_a_quality_refund_past_the_window_goes_to_a_person(shop_url: str, domain: dict) -> None:
    order = DEMO_ORDERS["delivered_old"]
    with db.session_scope() as s:  # pretend it was delivered 40 days ago
        s.get(Order, order).delivered_at = s.get(Order, order).delivered_at.replace(year=2025)
    slots = {**BUYER_SLOTS, "order_id": order, "verified_orders": [order], "after_sale_kind": "exchange", "after_sale_reason": "quality"}  # fmt: skip
    messages, events = await run(
        ActionSubmitAfterSale(), tracker("坏了", "quality_issue", slots=slots, sender="late-q"), domain
    )
    assert responses(messages)[0] == "utter_after_sale_expired"
    assert any(e["event"] == "pause" for e in events)


async def test_an_address_change_is_written_only_after_confirmation(shop_url: str, domain: dict) -> None:
    order = DEMO_ORDERS["paid"]
    base = {**BUYER_SLOTS, "order_id": order, "verified_orders": [order], "change_type": "address", "new_address": "北京市朝阳区建国路1号 李四"}  # fmt: skip
    messages, _ = await run(ActionSubmitChangeOrder(), tracker("/deny", "deny", slots={**base, "change_confirmed": False}), domain)  # fmt: skip
    assert responses(messages) == ["utter_change_aborted"]
    messages, _ = await run(ActionSubmitChangeOrder(), tracker("/affirm", "affirm", slots={**base, "change_confirmed": True}), domain)  # fmt: skip
    assert responses(messages) == ["utter_change_done_address"] and "****" in messages[0]["address"]
    with db.session_scope() as s:
        assert s.get(Order, order).address == "北京市朝阳区建国路1号 李四"


async def test_a_shipped_order_cannot_be_changed(shop_url: str, domain: dict) -> None:
    order = DEMO_ORDERS["in_transit"]
    slots = {**BUYER_SLOTS, "order_id": order, "verified_orders": [order], "change_type": "cancel", "change_confirmed": True}  # fmt: skip
    messages, _ = await run(ActionSubmitChangeOrder(), tracker("/affirm", "affirm", slots=slots), domain)
    assert responses(messages) == ["utter_change_too_late"]
    with db.session_scope() as s:
        assert s.get(Order, order).status == "shipped"


async def test_handoff_opens_one_ticket_with_the_context(shop_url: str, domain: dict) -> None:
    events = [
        {"event": "user", "text": "我要投诉", "parse_data": {"intent": {"name": "complain", "confidence": 0.97}, "entities": []}},
        {"event": "bot", "text": "亲，抱歉"},
    ]  # fmt: skip
    t = tracker("我要投诉", "complain", slots=BUYER_SLOTS, sender="angry-1", events=events)
    messages, out = await run(ActionHandoff(), t, domain)
    working = responses(messages)[0] != "utter_handoff_after_hours"  # depends on the time of day
    assert responses(messages)[0] == ("utter_handoff_next" if working else "utter_handoff_after_hours")
    assert any(e["event"] == "pause" for e in out)
    messages, _ = await run(ActionHandoff(), t, domain)
    assert responses(messages) == ["utter_handoff_already"]
    second = tracker("转人工", "request_human", slots=BUYER_SLOTS, sender="waiting-2")
    messages, _ = await run(ActionHandoff(), second, domain)
    if working:  # the complaint goes first: one buyer ahead
        assert responses(messages)[0] == "utter_handoff_queued" and messages[0]["position"] == 1
    with db.session_scope() as s:
        ticket = s.scalars(select(HandoffTicket).where(HandoffTicket.conversation_id == "angry-1")).one()
    assert ticket.reason == "complaint" and ticket.priority == 0
    assert ticket.context["understood"][0]["intent"] == "complain"
    assert [m["from"] for m in ticket.context["transcript"]] == ["buyer", "bot"]


async def test_session_start_knows_the_buyer_and_keeps_a_handoff_paused(shop_url: str, domain: dict) -> None:
    t = tracker(slots={"session_started_metadata": {"buyer_id": DEMO_BUYER}}, sender="returning-1")
    _, events = await run(ActionSessionStart(), t, domain)
    assert slot_events(events)["buyer_id"] == DEMO_BUYER
    assert not any(e["event"] == "pause" for e in events)
    await run(ActionHandoff(), tracker("转人工", "request_human", slots=BUYER_SLOTS, sender="returning-1"), domain)
    _, events = await run(ActionSessionStart(), t, domain)
    assert any(e["event"] == "pause" for e in events)


async def test_size_advice_and_product_info(shop_url: str, domain: dict) -> None:
    slots = {"product": "碎花连衣裙", "height": "165cm", "weight": "110斤"}
    messages, _ = await run(ActionSizeAdvice(), tracker("穿什么码", "ask_size", slots=slots), domain)
    assert responses(messages) == ["utter_size_advice"] and messages[0]["size"] == "M"
    messages, _ = await run(ActionProductInfo(), tracker("羽绒被什么材料", "ask_product_info", [entity("product", "白鹅绒羽绒被")]), domain)  # fmt: skip
    assert messages[0]["material"].startswith("95%白鹅绒") and messages[0]["price"] == "899-939元"


def test_rasa_sends_the_domain_only_to_the_form_validations_which_read_it() -> None:
    # Rasa's selective domain: with it on, only actions named validate_* get the domain.
    for endpoints in ("endpoints.yml", "endpoints.production.yml"):
        config = yaml.safe_load((PROJECT_ROOT / endpoints).read_text(encoding="utf-8"))
        assert config["action_endpoint"]["enable_selective_domain"] is True
    executor = ActionExecutor()
    executor.register_package("actions")
    validations = {name for name, run in executor.actions.items() if isinstance(run.__self__, FormValidationAction)}
    assert validations and all(name.startswith("validate_") for name in validations)


async def test_actions_answer_the_same_without_the_domain(shop_url: str, domain: dict) -> None:
    order = DEMO_ORDERS["in_transit"]
    cases = [
        (ActionProductInfo(), tracker("羽绒被什么材料", "ask_product_info", [entity("product", "白鹅绒羽绒被")])),
        (
            ActionSizeAdvice(),
            tracker("穿什么码", "ask_size", slots={"product": "连衣裙", "height": "165", "weight": "110斤"}),
        ),
        (ActionReply(), tracker("你好", "greet", slots=BUYER_SLOTS)),
        (
            ActionTrackOrder(),
            tracker("到哪了", "track_order", slots={**BUYER_SLOTS, "order_id": order, "verified_orders": [order]}),
        ),  # fmt: skip
    ]
    for action, t in cases:
        without = await run(action, t, {})
        assert without == await run(action, t, domain)
        assert without[0] and "utter_error" not in responses(without[0])


async def test_after_three_wrong_phone_digits_the_buyer_is_told_and_sees_nothing(shop_url: str, domain: dict) -> None:
    slots = {"order_id": None, "verify_attempts": 3.0}
    messages, _ = await run(ActionTrackOrder(), tracker("查订单", "track_order", slots=slots), domain)
    assert responses(messages) == ["utter_verify_failed"]
