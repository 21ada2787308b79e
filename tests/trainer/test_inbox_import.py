"""`./shop inbox import`: chat exports into the inbox with the serving model's guesses, all or nothing.

Real files on disk, the real trained model (loaded once per process), a real database (SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import db
from bot.cli import main
from bot.models import ConversationMessage, ImportedLine
from bot.policy import policy
from bot.trainer import inbox, registry
from bot.trainer.chat_import import ChatImportError, read_chat_file
from bot.trainer.examples import TrainingData
from bot.trainer.inbox_import import DECIDED, IMPORTED, IN_DATA, OPEN, REPEATED, import_chat_file

NOW = policy().now()


@pytest.fixture(autouse=True)
def _model() -> None:
    if not registry.models():
        pytest.skip("No trained model in models/: run ./shop train first.")


def write(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def imported(url: str) -> dict[str, ImportedLine]:
    with db.session_scope(url) as s:
        return {line.text: line for line in s.scalars(select(ImportedLine))}


# --- formats and encodings --------------------------------------------------------------


def test_a_tsv_export_keeps_the_buyers_lines_with_the_models_top3(
    shop_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "taobao.tsv", "session_id\twaiter_send\tcontent\n"
                 "s1\t0\t这件衣服能便宜一点不\n"
                 "s1\t1\t亲，已经是活动价了哦\n"
                 "s2\t0\t大概什么时候能发出来呀\n")  # fmt: skip
    assert main(["inbox", "import", str(path), "--source", "淘宝一月"]) == 0
    out = capsys.readouterr().out
    assert "speaker column 'waiter_send': kept rows with '0'" in out and "dropped rows with '1'" in out
    assert "Imported 2 new lines" in out and "1  said by the shop, not the buyer" in out
    lines = imported(shop_url)
    assert set(lines) == {"这件衣服能便宜一点不", "大概什么时候能发出来呀"}
    bargain = lines["这件衣服能便宜一点不"]
    assert bargain.source == "淘宝一月" and bargain.session == "s1" and bargain.occurrences == 1
    assert len(bargain.top3) == 3 and bargain.top3[0]["intent"] == "bargain"
    assert bargain.top_confidence == bargain.top3[0]["confidence"]
    assert bargain.margin == pytest.approx(bargain.top3[0]["confidence"] - bargain.top3[1]["confidence"], abs=1e-4)
    with db.session_scope(shop_url) as s:
        items = {item.text: item for item in inbox.collect(s)}
    assert items["这件衣服能便宜一点不"].reasons == {"imported"} and items["这件衣服能便宜一点不"].source == "淘宝一月"


def test_a_gbk_csv_with_chinese_headers_keeps_the_buyers_lines(tmp_path: Path) -> None:
    content = '会话,发送方,内容\n1,买家,质量怎么样啊\n1,客服,亲，质量很好的\n2,顾客,"有没有优惠券，满减那种"\n'
    chat = read_chat_file(write(tmp_path, "excel.csv", content, encoding="gbk"))
    assert chat.encoding == "GBK/GB18030" and chat.format == "CSV" and chat.text_column == "内容"
    assert [(line.text, line.session) for line in chat.lines] == [
        ("质量怎么样啊", "1"),
        ("有没有优惠券，满减那种", "2"),
    ]
    assert any(
        "speaker column '发送方': kept rows with '买家', '顾客'; dropped rows with '客服'" in n for n in chat.notes
    )


def test_jsonl_with_a_byte_order_mark_and_roles_by_name(tmp_path: Path) -> None:
    rows = [{"role": "customer", "text": "在吗", "channel": "抖音"}, {"role": "agent", "text": "在的亲"},
            {"role": "user", "text": "<p>这个&nbsp;有货吗&amp;</p>"}]  # fmt: skip
    content = "\ufeff" + "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"
    chat = read_chat_file(write(tmp_path, "douyin.jsonl", content))
    assert chat.format == "JSONL" and chat.encoding == "UTF-8"
    assert [(line.text, line.source) for line in chat.lines] == [("在吗", "抖音"), ("这个 有货吗&", None)]


def test_the_format_is_sniffed_when_the_extension_does_not_say(tmp_path: Path) -> None:
    assert read_chat_file(write(tmp_path, "a.txt", "text\trole\n你好\tbuyer\n")).format == "TSV"
    assert read_chat_file(write(tmp_path, "b.txt", "text,role\n你好,buyer\n")).format == "CSV"
    assert read_chat_file(write(tmp_path, "c.log", '{"message": "你好"}\n')).format == "JSONL"


# --- duplicates ---------------------------------------------------------------------------


def test_lines_already_known_or_repeated_are_dropped_and_counted(shop_url: str, tmp_path: Path) -> None:
    data = TrainingData()
    training, test_message = data.examples()[0].text, data.examples(test=True)[0].text
    first = write(tmp_path, "first.csv", "text\n上次导入过的一句话\n已经决定过的一句话\n")
    import_chat_file(first, None, NOW, url=shop_url)
    with db.session_scope(shop_url) as s:
        decided = next(item for item in inbox.collect(s) if item.text == "已经决定过的一句话")
        inbox.decide(s, decided.key, "dismissed", None, NOW)
        # A conversation line the bot fell back on is open in the inbox already.
        s.add(
            ConversationMessage(conversation_id="c1", sender="buyer", text="对话里没听懂的话", extra={}, created_at=NOW)
        )
        s.add(ConversationMessage(conversation_id="c1", sender="bot", text="……", intent="nlu_fallback",
                                  confidence=0.3, extra={}, created_at=NOW))  # fmt: skip
    second = write(tmp_path, "second.csv", "text\n" + "\n".join([
        training, test_message + "！", "上次导入過的一句話", "已经决定过的一句话", "对话里没听懂的话",
        "真正新的一句", "真正新的一句。", "真正新的一句",
    ]) + "\n")  # fmt: skip
    summary = import_chat_file(second, None, NOW, url=shop_url)
    assert summary.kept == 1
    assert summary.dropped == {IN_DATA: 2, IMPORTED: 1, DECIDED: 1, OPEN: 1, REPEATED: 2}
    lines = imported(shop_url)
    assert lines["真正新的一句"].occurrences == 3 and lines["真正新的一句"].source == "second"
    assert "\n".join(summary.lines()).count("already") == 4


# --- bad input: a clear message, exit 2, nothing imported ---------------------------------

BAD_FILES = {
    "empty": ("empty.csv", b"", "empty.csv is empty"),
    "header only": ("header.csv", b"text,role\n", "has a header but no rows"),
    "undecodable": ("latin.csv", "text\ncafé crème\n".encode("latin-1") + b"\x81\x20", "neither UTF-8 nor GBK/GB18030"),
    "utf-16": ("wide.csv", "text\n你好\n".encode("utf-16"), "UTF-16"),
    "no text column": ("cols.csv", "时间,昵称\n10:00,小王\n".encode(), "no text column: found '时间', '昵称'"),
    "over-long rows only": ("long.csv", ("text\n" + "很" * 5000 + "\n").encode(), "1 longer than 300 characters"),
    "an HTML page": ("page.csv", b"<!DOCTYPE html><html><body><p>hi</p></body></html>", "is HTML markup"),
    "markup cells": ("tags.csv", b"text\n<br/>\n<div></div>\n", "markup with no chat text"),
    "no buyer value": ("roles.csv", "text,role\n你好,A\n在的,B\n".encode(), "speaker column 'role' has no value meaning the buyer"),
    "broken JSONL": ("bad.jsonl", b'{"text": "hi"}\n{"text": \n', "bad.jsonl, line 2: not a JSON object"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_input_is_refused_with_the_reason_and_nothing_is_imported(
    case: str, shop_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, content, message = BAD_FILES[case]
    assert main(["inbox", "import", str(write(tmp_path, name, content))]) == 2
    err = capsys.readouterr().err
    assert message in err and "nothing was imported" in err, err
    with db.session_scope(shop_url) as s:
        assert s.scalar(select(func.count()).select_from(ImportedLine)) == 0


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    shop_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as fh:
        fh.truncate(51 * 1024 * 1024)  # sparse: no need to write 51 MB
    assert main(["inbox", "import", str(path)]) == 2
    assert "the limit is 50 MB" in capsys.readouterr().err
    assert imported(shop_url) == {}


def test_over_long_rows_among_good_ones_are_skipped_and_counted(tmp_path: Path) -> None:
    chat = read_chat_file(write(tmp_path, "mixed.csv", "text\n好的\n" + "长" * 5000 + "\n谢谢\n"))
    assert [line.text for line in chat.lines] == ["好的", "谢谢"]
    assert chat.skipped == {"longer than 300 characters (the longest a training example may be)": 1}


def test_a_missing_file_is_bad_input(shop_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inbox", "import", str(tmp_path / "nope.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_reading_refuses_before_anything_is_guessed_or_written(tmp_path: Path) -> None:
    with pytest.raises(ChatImportError, match="no text column"):
        read_chat_file(write(tmp_path, "x.tsv", "a\tb\n1\t2\n"))
