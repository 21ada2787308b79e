"""The trainers' inbox, built from real transcript rows in a real database."""

from __future__ import annotations

from datetime import timedelta

from bot import db
from bot.models import ConversationMessage, HandoffTicket
from bot.policy import policy
from bot.trainer import inbox

NOW = policy().now()


def add_turn(s, conversation: str, buyer_text: str, intent: str, confidence: float, ranking=None, minute: int = 0):  # noqa: ANN001, ANN201
    at = NOW + timedelta(minutes=minute)
    s.add(ConversationMessage(conversation_id=conversation, sender="buyer", text=buyer_text, extra={}, created_at=at))
    bot = ConversationMessage(
        conversation_id=conversation, sender="bot", text="……", intent=intent, confidence=confidence,
        extra={"understood": ranking or [{"intent": intent, "confidence": confidence}]}, created_at=at,
    )  # fmt: skip
    s.add(bot)
    s.flush()
    return bot


def test_misunderstood_messages_are_collected_merged_and_decided(shop_url: str) -> None:
    with db.session_scope() as s:
        add_turn(s, "c1", "这个咋整啊", "nlu_fallback", 0.3)
        add_turn(s, "c2", "這個咋整啊！", "nlu_fallback", 0.25)  # the same message, traditional + punctuation
        add_turn(s, "c1", "是正品吗", "ask_authenticity", 0.99, minute=1)  # understood: not in the inbox
        add_turn(s, "c3", "能寄到国外不", "ask_shipping_time", 0.45, minute=2)
        tie = [{"intent": "track_order", "confidence": 0.62}, {"intent": "wrong_or_missing_item", "confidence": 0.55}]
        add_turn(s, "c4", "上周拍的还没收到", "track_order", 0.62, ranking=tie)
        marked = add_turn(s, "c5", "给我换一个吧", "request_exchange", 0.98)
        add_turn(s, "c6", "你们到底管不管", "complain", 0.9)
        s.add(HandoffTicket(conversation_id="c6", reason="complaint", priority=0, status="pending", context={},
                            open_key="c6", created_at=NOW + timedelta(minutes=5)))  # fmt: skip
    with db.session_scope() as s:
        assert inbox.mark_misunderstood(s, marked.id)
        items = {item.text: item for item in inbox.collect(s)}
    assert set(items) == {"这个咋整啊", "能寄到国外不", "上周拍的还没收到", "给我换一个吧", "你们到底管不管"}
    assert items["这个咋整啊"].count == 2 and items["这个咋整啊"].reasons == {"fallback"}
    assert items["能寄到国外不"].reasons == {"low confidence"}
    assert items["上周拍的还没收到"].reasons == {"near tie"}
    assert items["上周拍的还没收到"].top3[1]["intent"] == "wrong_or_missing_item"
    assert items["给我换一个吧"].reasons == {"marked by an agent"}
    assert items["你们到底管不管"].reasons == {"before a handoff"}
    assert ("buyer", "这个咋整啊") in items["这个咋整啊"].context

    with db.session_scope() as s:
        assert inbox.find(s, items["这个咋整啊"].id) == items["这个咋整啊"]
        inbox.decide(s, items["这个咋整啊"].key, "dismissed", None, NOW)
    with db.session_scope() as s:
        assert "这个咋整啊" not in {item.text for item in inbox.collect(s)}
        assert inbox.find(s, items["这个咋整啊"].id) is None  # decided: no longer open


def test_before_a_handoff_means_the_words_before_an_understood_request_for_a_person(shop_url: str) -> None:
    with db.session_scope() as s:
        add_turn(s, "h1", "这个面料起球吗", "ask_product_info", 0.7)
        add_turn(s, "h1", "转人工", "request_human", 0.99, minute=1)
        s.add(HandoffTicket(conversation_id="h1", reason="requested", priority=0, status="pending", context={},
                            open_key="h1", created_at=NOW + timedelta(minutes=2)))  # fmt: skip
    with db.session_scope() as s:
        items = {item.text: item for item in inbox.collect(s)}
    assert set(items) == {"这个面料起球吗"}
    assert items["这个面料起球吗"].reasons == {"before a handoff"}
