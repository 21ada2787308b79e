"""Splitting a buyer's message into clauses and planning the turns (pure Python, no model)."""

from __future__ import annotations

from typing import Any

from bot.dialogue.clauses import Clause, plan, split_clauses


def texts(message: str) -> list[str]:
    return [c.text for c in split_clauses(message)]


def parse(intent: str, confidence: float) -> dict[str, Any]:
    return {"intent": {"name": intent, "confidence": confidence}}


def planned(message: str, whole: dict[str, Any], *clause_parses: dict[str, Any]) -> list[str]:
    clauses = split_clauses(message)
    assert len(clauses) == len(clause_parses), [c.text for c in clauses]
    return [t.text for t in plan(message, whole, list(zip(clauses, clause_parses, strict=True)))]


def test_clauses_split_at_punctuation_spaces_between_chinese_and_connectors() -> None:
    assert texts("是正品吗？能包邮不") == ["是正品吗", "能包邮不"]
    assert texts("在吗 我要退货 运费谁出") == ["在吗", "我要退货", "运费谁出"]
    assert texts("能开发票吗还有什么时候发货") == ["能开发票吗", "什么时候发货"]


def test_a_greeting_glued_to_the_question_is_a_clause_of_its_own() -> None:
    assert texts("在吗我要退货") == ["在吗", "我要退货"]
    assert texts("亲这个四件套有货吗") == ["亲", "这个四件套有货吗"]
    assert texts("亲子装有吗") == ["亲子装有吗"], "亲子 is a word, not a greeting"


def test_numbers_with_units_and_button_payloads_are_never_split() -> None:
    assert texts("165cm 110斤") == ["165cm 110斤"]
    assert texts("2611010000000004 到哪了") == ["2611010000000004 到哪了"]
    assert texts('/inform_order_id{"order_id":"2611010000000004"}') == [
        '/inform_order_id{"order_id":"2611010000000004"}'
    ]


def test_two_confident_requests_become_two_turns_in_order() -> None:
    turns = planned(
        "是正品吗？能包邮不", parse("ask_authenticity", 0.59), parse("ask_authenticity", 0.99), parse("bargain", 0.99)
    )
    assert turns == ["是正品吗", "能包邮不"]


def test_a_greeting_in_front_of_a_request_is_dropped() -> None:
    turns = planned("你好，这个能便宜点吗", parse("greet", 0.6), parse("greet", 0.95), parse("bargain", 0.9))
    assert turns == ["这个能便宜点吗"]


def test_an_unsure_clause_stays_with_the_request_before_it() -> None:
    turns = planned(
        "在吗 我要退货 运费谁出",
        parse("request_refund", 0.98), parse("greet", 0.9), parse("request_refund", 0.99), parse("nlu_fallback", 0.3),
    )  # fmt: skip
    assert turns == ["我要退货 运费谁出"]


def test_one_request_said_in_two_clauses_stays_whole() -> None:
    message = "我买的裙子，起球了"
    assert planned(
        message, parse("quality_issue", 0.99), parse("ask_product_info", 0.5), parse("quality_issue", 0.9)
    ) == [message]
    same = "什么时候发货，几天能到"
    assert planned(
        same, parse("ask_shipping_time", 0.99), parse("ask_shipping_time", 0.99), parse("ask_shipping_time", 0.98)
    ) == [same]


def test_an_order_number_is_a_detail_of_the_request_next_to_it() -> None:
    message = "2611010000000004，能开发票吗"
    assert planned(message, parse("ask_invoice", 0.9), parse("inform_order_id", 0.99), parse("ask_invoice", 0.95)) == [
        message
    ]


def test_a_message_of_courtesy_only_is_left_alone() -> None:
    message = "你好，谢谢"
    assert planned(message, parse("thank", 0.9), parse("greet", 0.9), parse("thank", 0.9)) == [message]
    assert plan("在吗", parse("greet", 0.9), [(Clause(0, 2, "在吗"), parse("greet", 0.9))])[0].text == "在吗"


def test_while_a_form_waits_for_an_answer_spaces_do_not_split_it() -> None:
    address = "浙江省杭州市西湖区文三路100号 王小明 13900001111"
    assert [c.text for c in split_clauses(address, in_form=True)] == [address]
    assert [c.text for c in split_clauses("2611010000000003，另外能开发票吗", in_form=True)] == [
        "2611010000000003",
        "能开发票吗",
    ]


def test_an_order_number_asked_for_by_a_form_is_a_turn_of_its_own() -> None:
    message = "2611010000000003，能开发票吗"
    clauses = split_clauses(message, in_form=True)
    parses = [parse("inform_order_id", 0.99), parse("ask_invoice", 0.95)]
    turns = plan(message, parse("inform_order_id", 0.9), list(zip(clauses, parses, strict=True)), details=frozenset())
    assert [t.text for t in turns] == ["2611010000000003", "能开发票吗"]
