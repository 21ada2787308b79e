"""The trainers' inbox, built from real transcript rows in a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import db
from bot.models import ConversationMessage, HandoffTicket, ImportedLine
from bot.policy import policy
from bot.trainer import inbox
from bot.trainer.examples import example_key

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


def test_a_second_trainers_blind_label_is_kept_and_compared(shop_url: str) -> None:
    from bot.trainer.agreement import agreement

    with db.session_scope() as s:
        add_turn(s, "a1", "这个能开发票吗", "nlu_fallback", 0.3)
        add_turn(s, "a2", "衣服起球了怎么办", "nlu_fallback", 0.3)
    with db.session_scope() as s:
        items = {item.text: item for item in inbox.collect(s)}
        invoice, pilling = items["这个能开发票吗"], items["衣服起球了怎么办"]
        inbox.decide(s, invoice.key, "labelled", "ask_invoice", NOW, trainer="xiaolin", text=invoice.text)
        inbox.decide(s, pilling.key, "labelled", "complain", NOW, trainer="xiaolin", text=pilling.text)
    with db.session_scope() as s:
        assert [item.text for item in inbox.to_review(s, "xiaoyu")] == ["衣服起球了怎么办", "这个能开发票吗"]
        assert inbox.to_review(s, "xiaolin") == []  # nothing of one's own to review
        assert inbox.find_labelled(s, invoice.id) == (invoice.key, "这个能开发票吗")
        inbox.second_opinion(s, invoice.key, invoice.text, "xiaoyu", "labelled", "ask_invoice", NOW)
        inbox.second_opinion(s, pilling.key, pilling.text, "xiaoyu", "dismissed", None, NOW)
    with db.session_scope() as s:
        found = agreement(inbox.labels(s))
        assert inbox.to_review(s, "xiaoyu") == []
    assert (found.lines, found.agreed, found.rate) == (2, 1, 0.5)
    assert found.pairs[0].trainers == ("xiaolin", "xiaoyu") and found.pairs[0].lines == 2
    assert found.disagreements[0]["labels"] == [
        {"trainer": "xiaolin", "label": "complain"}, {"trainer": "xiaoyu", "label": "skip"},
    ]  # fmt: skip

    # Undoing the deciding label reopens the line; the second opinion stays.
    with db.session_scope() as s:
        inbox.forget(s, inbox.label_of(s, pilling.key, "xiaolin"))
    with db.session_scope() as s:
        assert "衣服起球了怎么办" in {item.text for item in inbox.collect(s)}
        assert [label.trainer for label in inbox.labels(s, pilling.key)] == ["xiaoyu"]


def test_cohen_kappa_is_agreement_beyond_chance() -> None:
    from bot.trainer.agreement import cohen_kappa

    # 10 lines: both say A on 4, both B on 4, they differ on 2 -> po 0.8, pe 0.5, kappa 0.6.
    first = ["A"] * 5 + ["B"] * 5
    second = ["A"] * 4 + ["B"] + ["A"] + ["B"] * 4
    assert cohen_kappa(first, second) == pytest.approx(0.6)
    assert cohen_kappa(["A", "B"], ["A", "B"]) == pytest.approx(1.0)
    assert cohen_kappa(["A", "A"], ["A", "A"]) is None  # one label for everything: chance explains it all
    assert cohen_kappa([], []) is None


def test_filters_choose_by_source_guess_and_confidence_and_order_by_uncertainty(shop_url: str) -> None:
    def line(text: str, source: str, top: float, second: float, count: int = 1) -> ImportedLine:
        top3 = [{"intent": "bargain", "confidence": top}, {"intent": "greet", "confidence": second}]
        return ImportedLine(key=example_key(text), text=text, source=source, occurrences=count, top3=top3,
                            top_confidence=top, margin=top - second, imported_at=NOW, batch="b1")  # fmt: skip

    with db.session_scope() as s:
        s.add_all([line("甲说的话", "淘宝", 0.9, 0.05, count=5), line("乙说的话", "淘宝", 0.5, 0.45),
                   line("丙说的话", "京东", 0.4, 0.1)])  # fmt: skip
    with db.session_scope() as s:
        assert [i.text for i in inbox.collect(s)] == ["甲说的话", "丙说的话", "乙说的话"]
        by_doubt = inbox.collect(s, filters=inbox.Filters(order="uncertainty"))
        assert [i.text for i in by_doubt] == ["乙说的话", "丙说的话", "甲说的话"]
        assert [i.text for i in inbox.collect(s, filters=inbox.Filters(source="京东"))] == ["丙说的话"]
        middle = inbox.Filters(min_confidence=0.45, max_confidence=0.95)
        assert [i.text for i in inbox.collect(s, filters=middle)] == ["甲说的话", "乙说的话"]
