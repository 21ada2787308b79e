"""Whole conversations through the REST channel of a running Rasa + action server.

Nothing is stubbed: the trained model, the action server and a freshly seeded SQLite
shop answer exactly as they would for a buyer.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import db
from bot.config import PROJECT_ROOT
from bot.models import AfterSaleRequest, HandoffTicket, Order, Shipment
from bot.seed import DEMO_ORDERS, OTHER_BUYER_ORDER
from tests.conftest import fresh_shop
from tests.live import Stack, buttons, start_stack, stop_stack, texts

BUYER = "b0001"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    var_dir = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{var_dir / 'shop.db'}"
    fresh_shop(url)
    stack = start_stack(var_dir, {"DATABASE_URL": url})
    yield stack, url
    stop_stack(stack)
    db.dispose_all()


def conversation() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def press(stack: Stack, sender: str, replies: list[dict], title_part: str, buyer: str | None = BUYER) -> list[dict]:
    """Press the button whose title contains `title_part`."""
    button = next(b for b in buttons(replies) if title_part in b["title"])
    return stack.say(sender, button["payload"], buyer)


def test_authenticity_answer_quotes_the_policy(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    reply = texts(stack.say(conversation(), "亲 你家东西是正品吗", BUYER))
    assert "正品" in reply and "假一赔三" in reply and "NM-2026-0815" in reply


def test_traditional_characters_are_understood(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    reply = texts(stack.say(conversation(), "請問是正品嗎？", BUYER))
    assert "假一赔三" in reply


def test_bargaining_concedes_only_what_policy_allows_round_by_round(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    sender = conversation()
    first = texts(stack.say(sender, "能便宜点吗", BUYER))
    second = texts(stack.say(sender, "再便宜一点嘛", BUYER))
    third = texts(stack.say(sender, "少个二十块我就拍了", BUYER))
    assert "满99元就包邮" in first
    assert "满199减20" in second
    assert "主管" in third and "同款收纳袋" in third
    assert not re.search(r"[0-9一二三四五六七八九]折", first + second + third)  # never an invented discount


def test_shipping_time_names_the_buyers_paid_order(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    reply = texts(stack.say(conversation(), "什么时候发货呀", BUYER))
    assert DEMO_ORDERS["paid"] in reply and "前发出" in reply


def test_shipping_time_by_region_and_courier(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    assert "48小时" in texts(stack.say(conversation(), "什么时候发货", None))
    remote = texts(stack.say(conversation(), "发新疆要几天能到", None))
    assert "偏远地区" in remote and "5-7" in remote
    assert "12元" in texts(stack.say(conversation(), "可以发顺丰吗", None))


def test_late_parcel_gets_an_apology_and_the_courier_is_chased(shop: tuple[Stack, str]) -> None:
    stack, url = shop
    sender, order = conversation(), DEMO_ORDERS["late"]
    replies = stack.say(sender, f"我的快递怎么还没到 {order}", BUYER)
    assert "抱歉" in texts(replies) and "快件滞留" in texts(replies)
    urged = texts(press(stack, sender, replies, "催"))
    assert "催件" in urged
    with db.session_scope(url) as s:
        assert s.scalar(select(Shipment.urged_at).where(Shipment.order_id == order)) is not None


def test_refund_through_buttons_creates_one_request(shop: tuple[Stack, str]) -> None:
    stack, url = shop
    sender, order = conversation(), DEMO_ORDERS["delivered_recent"]
    replies = stack.say(sender, "我要退款", BUYER)
    assert any(order in b["payload"] for b in buttons(replies)), "recent orders are offered as buttons"
    replies = stack.say(sender, f'/inform_order_id{{"order_id":"{order}"}}', BUYER)
    replies = press(stack, sender, replies, "退货退款")
    replies = press(stack, sender, replies, "尺码不合适")
    done = texts(replies)
    assert "已经为您提交退货退款申请" in done and "您承担" in done
    again = texts(stack.say(sender, f"我要退款 订单{order}", BUYER))
    assert "已经有一个" in again
    with db.session_scope(url) as s:
        count = s.scalar(select(func.count()).select_from(AfterSaleRequest).where(AfterSaleRequest.order_id == order))
    assert count == 1


def test_refund_after_seven_days_without_a_fault_is_refused(shop: tuple[Stack, str]) -> None:
    stack, url = shop
    sender, order = conversation(), DEMO_ORDERS["delivered_old"]
    replies = stack.say(sender, f"{order} 这个我不想要了 想退", BUYER)
    if buttons(replies) and any("退货退款" in b["title"] for b in buttons(replies)):
        replies = press(stack, sender, replies, "退货退款")
    if buttons(replies) and any("七天无理由" in b["title"] for b in buttons(replies)):
        replies = press(stack, sender, replies, "七天无理由")
    assert "超过了7天无理由" in texts(replies)
    with db.session_scope(url) as s:
        assert s.get(Order, order).status == "completed"


def test_quality_issue_is_handled_at_the_shops_cost(shop: tuple[Stack, str]) -> None:
    stack, url = shop
    sender, order = conversation(), DEMO_ORDERS["delivered_old"]
    replies = stack.say(sender, f"订单{order}的东西洗了一次就起球了", BUYER)
    replies = press(stack, sender, replies, "换货")
    done = texts(replies)
    assert "抱歉" in done and "小店承担" in done and "换货申请" in done
    with db.session_scope(url) as s:
        request = s.scalars(
            select(AfterSaleRequest).where(AfterSaleRequest.order_id == order).order_by(AfterSaleRequest.id.desc())
        ).first()
    assert request.reason == "quality" and request.postage_payer == "seller"


def test_a_question_inside_the_refund_form_is_answered_and_the_form_resumes(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    sender = conversation()
    replies = stack.say(sender, "我想退款", BUYER)
    replies = stack.say(sender, f'/inform_order_id{{"order_id":"{DEMO_ORDERS["in_transit"]}"}}', BUYER)
    # In transit: only "return and refund" is possible, so the form goes on to the reason.
    assert any("尺码不合适" in b["title"] for b in buttons(replies))
    digression = stack.say(sender, "对了你们能开发票吗", BUYER)
    assert "发票" in texts(digression)
    assert any("尺码不合适" in b["title"] for b in buttons(digression)), "the form asks its question again"


def test_someone_elses_order_is_never_shown(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    reply = texts(stack.say(conversation(), f"帮我查下物流 {OTHER_BUYER_ORDER}", BUYER))
    assert "没有在您的账号下查到" in reply
    assert "状态" not in reply and "物流" not in reply, "no detail of someone else's order"


def test_anonymous_buyer_must_prove_the_phone_before_seeing_an_order(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    sender, order = conversation(), DEMO_ORDERS["late"]
    asked = texts(stack.say(sender, f"查一下订单 {order}", None))
    assert "后4位" in asked and "快件滞留" not in asked
    assert "对不上" in texts(stack.say(sender, "0000", None))
    shown = texts(stack.say(sender, "5678", None))
    assert "快件滞留" in shown
    assert "13812345678" not in shown


def test_secrets_get_a_warning(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    reply = texts(stack.say(conversation(), "我的验证码是 482913 你帮我付款吧", BUYER))
    assert "不要把验证码" in reply


def test_size_advice_asks_for_height_and_weight(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    sender = conversation()
    asked = texts(stack.say(sender, "碎花连衣裙我穿什么码", BUYER))
    assert "身高" in asked
    advice = texts(stack.say(sender, "165cm 110斤", BUYER))
    assert "M码" in advice


def test_address_is_changed_after_confirmation(shop: tuple[Stack, str]) -> None:
    stack, url = shop
    sender, order = conversation(), DEMO_ORDERS["paid"]
    stack.say(sender, f"订单{order}帮我改一下收货地址", BUYER)
    confirm = stack.say(sender, "浙江省杭州市西湖区文三路100号 王小明 13900001111", BUYER)
    assert "确定" in [b["title"] for b in buttons(confirm)]
    with db.session_scope(url) as s:
        assert "文三路" not in s.get(Order, order).address, "nothing changes before the buyer confirms"
    done = texts(press(stack, sender, confirm, "确定"))
    assert "地址改好" in done
    with db.session_scope(url) as s:
        assert "文三路100号" in s.get(Order, order).address


def test_explicit_request_hands_off_silences_the_bot_and_hand_back_resumes(shop: tuple[Stack, str]) -> None:
    stack, url = shop
    sender = conversation()
    queued = texts(stack.say(sender, "转人工", BUYER))
    assert "人工客服" in queued
    assert stack.say(sender, "在吗在吗", BUYER) == [], "a handed-off conversation gets no bot replies"
    assert stack.say(sender, "是正品吗", BUYER) == []
    with db.session_scope(url) as s:
        ticket = s.scalars(select(HandoffTicket).where(HandoffTicket.conversation_id == sender)).one()
    assert ticket.reason == "requested" and ticket.buyer_id == BUYER
    assert any(turn["text"] == "转人工" for turn in ticket.context["transcript"])
    result = subprocess.run(
        [sys.executable, "-m", "bot", "handoff", "resolve", str(ticket.id)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
        env={**__import__("os").environ, "DATABASE_URL": url, "RASA_URL": stack.rasa_url},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "继续为您服务" in result.stdout
    assert "假一赔三" in texts(stack.say(sender, "是正品吗", BUYER)), "the bot answers again"


def test_lost_parcel_is_handed_to_a_person(shop: tuple[Stack, str]) -> None:
    stack, url = shop
    sender = conversation()
    reply = texts(stack.say(sender, f"{DEMO_ORDERS['lost']} 这个快递到底到哪了", BUYER))
    assert "没有物流更新" in reply and "人工客服" in reply
    with db.session_scope(url) as s:
        ticket = s.scalars(select(HandoffTicket).where(HandoffTicket.conversation_id == sender)).one()
    assert ticket.reason == "lost_parcel" and ticket.order_id == DEMO_ORDERS["lost"]
    assert stack.say(sender, "人呢", BUYER) == []


def test_complaints_go_to_the_front_of_the_queue(shop: tuple[Stack, str]) -> None:
    stack, url = shop
    sender = conversation()
    assert "人工客服" in texts(stack.say(sender, "我要投诉你们 太差劲了", BUYER))
    with db.session_scope(url) as s:
        ticket = s.scalars(select(HandoffTicket).where(HandoffTicket.conversation_id == sender)).one()
    assert ticket.reason == "complaint" and ticket.priority == 0


BAD_INPUTS = [
    "",
    "   ",
    "啊" * 5000,
    "😀😀😀🙏",
    "<script>alert('x')</script>",
    "'; DROP TABLE shop_order; --",
    "订单号 12345678901",
    "2611019999999999",
]


@pytest.mark.parametrize("message", BAD_INPUTS, ids=["empty", "blank", "5000-chars", "emoji", "html", "sql", "malformed-order", "unknown-order"])  # fmt: skip
def test_bad_input_gets_a_kind_chinese_reply_and_changes_nothing(shop: tuple[Stack, str], message: str) -> None:
    stack, url = shop
    with db.session_scope(url) as s:
        before = (s.scalar(select(func.count()).select_from(Order)), s.scalar(select(func.count()).select_from(AfterSaleRequest)))  # fmt: skip
    reply = texts(stack.say(conversation(), message, BUYER))
    assert CJK.search(reply), f"no Chinese reply to {message[:30]!r}"
    assert "<script>" not in reply
    with db.session_scope(url) as s:
        after = (s.scalar(select(func.count()).select_from(Order)), s.scalar(select(func.count()).select_from(AfterSaleRequest)))  # fmt: skip
    assert after == before


def test_a_malformed_order_number_inside_the_order_form_is_explained_not_handed_off(shop: tuple[Stack, str]) -> None:
    stack, url = shop
    sender = conversation()
    assert buttons(stack.say(sender, "帮我查下物流", BUYER)), "the form offers the buyer's orders"
    reply = texts(stack.say(sender, "订单号 26110100000", BUYER))
    assert "16位数字" in reply and "人工客服" not in reply, reply
    with db.session_scope(url) as s:
        assert not s.scalars(select(HandoffTicket).where(HandoffTicket.conversation_id == sender)).first()
    replies = stack.say(sender, f'/inform_order_id{{"order_id":"{DEMO_ORDERS["in_transit"]}"}}', BUYER)
    assert DEMO_ORDERS["in_transit"] in texts(replies), "the right number then goes through"


def test_logs_have_no_action_errors(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    log = Path(stack.processes[0].log).read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, log[-3000:]


def test_swapping_the_model_keeps_a_conversation_going(shop: tuple[Stack, str]) -> None:
    from bot.trainer.registry import hot_swap
    from bot.training import model_path

    stack, _ = shop
    sender = conversation()
    replies = stack.say(sender, "我要退款", BUYER)
    assert buttons(replies), "the refund form asks which order"
    hot_swap([stack.rasa_url], model_path())  # what `./shop models activate` does to a running server
    replies = stack.say(sender, f'/inform_order_id{{"order_id":"{DEMO_ORDERS["in_transit"]}"}}', BUYER)
    assert any("尺码不合适" in b["title"] for b in buttons(replies)), "the form carried on after the swap"


# --- two requests in one message, and the traps real buyers' sessions fell into ---------------


def test_two_requests_in_one_message_get_both_answers_in_order(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    replies = [r.get("text") or "" for r in stack.say(conversation(), "是正品吗？能包邮不", BUYER)]
    authenticity = next(i for i, t in enumerate(replies) if "假一赔三" in t)
    shipping = next(i for i, t in enumerate(replies) if "包邮" in t)
    assert authenticity < shipping, replies


def test_a_side_question_and_the_forms_answer_in_one_message_both_count(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    sender = conversation()
    stack.say(sender, "我想退款", BUYER)
    replies = stack.say(sender, f"{DEMO_ORDERS['in_transit']}，另外能开发票吗", BUYER)
    assert "发票" in texts(replies), "the side question is answered"
    assert any("尺码不合适" in b["title"] for b in buttons(replies)), "the order filled the form, which asks the reason"


def test_a_postage_question_during_a_return_is_answered_and_the_return_goes_on(shop: tuple[Stack, str]) -> None:
    stack, url = shop
    sender = conversation()
    stack.say(sender, "我要退货", BUYER)
    replies = stack.say(sender, "退货的运费谁出啊", BUYER)
    assert "运费" in texts(replies) and "人工" not in texts(replies), texts(replies)
    assert any(DEMO_ORDERS["delivered_recent"] in b["payload"] for b in buttons(replies)), "the form asks again"
    with db.session_scope(url) as s:
        assert not s.scalars(select(HandoffTicket).where(HandoffTicket.conversation_id == sender)).first()


def test_a_return_with_a_postage_question_answers_both(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    replies = stack.say(conversation(), "在吗 我要退货 运费谁出", BUYER)
    assert "运费" in texts(replies) and buttons(replies), texts(replies)


def test_paid_and_in_a_hurry_names_the_paid_order_not_the_one_discussed_last(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    sender = conversation()
    stack.say(sender, f"{DEMO_ORDERS['late']}到哪了", BUYER)
    reply = texts(stack.say(sender, "我已经付款了 麻烦快点发", BUYER))
    assert DEMO_ORDERS["paid"] in reply and DEMO_ORDERS["late"] not in reply, reply


def test_a_wrong_item_gets_the_buyer_to_choose_the_remedy(shop: tuple[Stack, str]) -> None:
    stack, url = shop
    sender, order = conversation(), DEMO_ORDERS["in_transit"]
    replies = stack.say(sender, f"发错颜色了 {order}", BUYER)
    titles = [b["title"] for b in buttons(replies)]
    assert {"换货", "补发", "退货退款"} <= set(titles), texts(replies)
    with db.session_scope(url) as s:
        assert (
            s.scalar(select(func.count()).select_from(AfterSaleRequest).where(AfterSaleRequest.order_id == order)) == 0
        )
    done = texts(press(stack, sender, replies, "补发"))
    assert "补发" in done and "小店承担" in done


def test_a_product_question_with_a_greeting_in_front_is_answered(shop: tuple[Stack, str]) -> None:
    stack, _ = shop
    reply = texts(stack.say(conversation(), "您好 在吗 纯棉四件套有现货吗", BUYER))
    assert "纯棉四件套" in reply and "订单" not in reply, reply
