"""bot.trainer.examples: checked, line-preserving, all-or-nothing edits, always on copies of the real files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.trainer import examples as examples_module
from bot.trainer.examples import ExampleError, TrainingData, example_key, read_tsv


@pytest.fixture()
def data(tmp_path: Path) -> TrainingData:
    """TrainingData over copies of data/nlu/*.yml, the test set and the domain, laid out like the project."""
    (tmp_path / "data" / "nlu").mkdir(parents=True)
    (tmp_path / "tests" / "nlu").mkdir(parents=True)
    for path in (PROJECT_ROOT / "data" / "nlu").glob("*.yml"):
        shutil.copy2(path, tmp_path / "data" / "nlu" / path.name)
    shutil.copy2(PROJECT_ROOT / "tests" / "nlu" / "test_nlu.yml", tmp_path / "tests" / "nlu" / "test_nlu.yml")
    shutil.copy2(PROJECT_ROOT / "domain.yml", tmp_path / "domain.yml")
    return TrainingData(tmp_path / "data" / "nlu", tmp_path / "tests" / "nlu" / "test_nlu.yml", tmp_path / "domain.yml")


def snapshot(data: TrainingData) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in [*data.data_dir.glob("*.yml"), data.test_set]}


def assert_one_line_added(before: bytes, after: bytes, line: str) -> int:
    """The index of `line` in `after`, which must be `before` with just that line inserted."""
    old, new = before.decode().split("\n"), after.decode().split("\n")
    assert len(new) == len(old) + 1
    index = new.index(line)
    assert new[:index] + new[index + 1 :] == old  # every other line byte for byte, comments included
    return index


def test_add_writes_exactly_one_line_at_the_end_of_the_intents_block(data: TrainingData) -> None:
    before = snapshot(data)
    example = data.add("ask_authenticity", "  这款羊毛围巾有没有吊牌和专柜小票 ")
    assert example.file == "data/nlu/presale.yml" and example.text == "这款羊毛围巾有没有吊牌和专柜小票"
    after = snapshot(data)
    index = assert_one_line_added(before["presale.yml"], after["presale.yml"], "    - 这款羊毛围巾有没有吊牌和专柜小票")
    lines = after["presale.yml"].decode().split("\n")
    assert lines[index - 1].startswith("    - ")  # right after the block's last example ...
    assert not lines[index + 1].startswith("    - ")  # ... and before whatever followed the block
    assert {k: v for k, v in after.items() if k != "presale.yml"} == {
        k: v for k, v in before.items() if k != "presale.yml"
    }
    assert example in data.examples("ask_authenticity")
    assert not list(data.data_dir.glob(".*.tmp"))  # no temp files left behind


def test_a_duplicate_under_another_intent_is_refused_naming_that_intent(data: TrainingData) -> None:
    before = snapshot(data)
    with pytest.raises(
        ExampleError, match=r"'是正品吗' already exists under intent 'ask_authenticity' in data/nlu/presale.yml"
    ):
        data.add("bargain", "是正品吗")
    with pytest.raises(ExampleError, match="already exists under intent 'ask_authenticity'"):
        data.add("ask_authenticity", "是正品吗")  # the same intent: already there
    assert snapshot(data) == before


@pytest.mark.parametrize(
    "variant", ["是正品嗎？", "是正品吗!!", "是 正 品 吗", "ＺＰ嗎", "這個是正品嗎", "是[正品](product)吗"]
)
def test_traditional_full_width_and_punctuation_variants_are_duplicates(data: TrainingData, variant: str) -> None:
    before = snapshot(data)
    with pytest.raises(ExampleError, match="already exists under intent 'ask_authenticity'"):
        data.add("bargain", variant)
    assert snapshot(data) == before


def test_example_key_ignores_annotations_script_width_case_and_punctuation() -> None:
    assert example_key("訂單[2611031234567890](order_id)！") == example_key("订单 2611031234567890") != ""
    assert example_key("ＯＫ👌") == example_key("ok")
    assert example_key("👌") != example_key("👍")  # emoji-only messages keep a key of their own


def test_copies_of_test_messages_cannot_become_training_examples_and_vice_versa(data: TrainingData) -> None:
    before = snapshot(data)
    test_message = data.examples("greet", test=True)[0]
    assert test_message.file == "tests/nlu/test_nlu.yml"
    with pytest.raises(ExampleError, match=r"tests/nlu/test_nlu.yml.*held out"):
        data.add("greet", test_message.text)
    with pytest.raises(ExampleError, match=r"tests/nlu/test_nlu.yml.*held out"):
        data.add("goodbye", test_message.text + "！")  # under another intent, with punctuation: still a copy
    training = data.examples("greet")[0]
    with pytest.raises(ExampleError, match=r"data/nlu/general.yml.*held out"):
        data.add("greet", training.text, as_test=True)
    assert snapshot(data) == before


@pytest.mark.parametrize(
    ("intent", "text", "message"),
    [
        ("foo", "你好", r"unknown intent 'foo' \(known: greet, goodbye"),
        ("EXTERNAL_handback", "你好", "unknown intent 'EXTERNAL_handback'"),
        ("greet", "", "example is empty"),
        ("greet", " \u3000 ", "example is empty"),
        ("greet", "在" * 2000, "example is longer than 300 characters"),
        ("greet", "你好\n在吗", "control character"),
        ("greet", "你好\u2028在吗", "control character"),
        ("color_difference", "[藏青色](colour)偏暗吗", "unknown entity 'colour'"),
        ("color_difference", "[藏青色偏暗吗", "brackets"),
        ("color_difference", "[藏青色](color偏暗吗", "brackets"),
    ],
)
def test_bad_examples_are_refused_and_nothing_changes(data: TrainingData, intent: str, text: str, message: str) -> None:
    before = snapshot(data)
    with pytest.raises(ExampleError, match=message):
        data.add(intent, text)
    assert snapshot(data) == before


def test_annotated_examples_are_accepted(data: TrainingData) -> None:
    before = snapshot(data)
    text = "[藏青色](color)那件实物会不会比图片暗好多"
    example = data.add("color_difference", text)
    assert_one_line_added(before["presale.yml"], snapshot(data)["presale.yml"], f"    - {text}")
    assert data.examples(search="藏青色那件") == [example]  # search reads past annotations


def test_a_malformed_file_gives_a_clear_error_and_stays_byte_identical(data: TrainingData) -> None:
    broken = data.data_dir / "presale.yml"
    bad_line = broken.read_bytes().count(b"\n") + 1
    broken.write_bytes(broken.read_bytes() + b"  - : [\n")
    before = snapshot(data)
    message = (
        rf"malformed YAML in data/nlu/presale.yml at line {bad_line}, column 3: expected <block end>, but found '-'"
    )
    with pytest.raises(ExampleError, match=message):
        data.add("ask_authenticity", "这款羊毛围巾有没有吊牌和专柜小票")
    with pytest.raises(ExampleError, match="malformed YAML in data/nlu/presale.yml"):
        data.add("greet", "掌柜的午安呀今天忙不忙")  # other files are refused too: duplicates cannot be checked
    assert snapshot(data) == before


def test_import_is_all_or_nothing(data: TrainingData) -> None:
    before = snapshot(data)
    rows = [
        ("ask_authenticity", "这款羊毛围巾有没有吊牌和专柜小票"),
        ("track_order", "我买的那箱猫粮现在走到哪个城市了"),
        ("no_such_intent", "随便说点什么"),
        ("greet", "是正品吗"),
    ]
    with pytest.raises(ExampleError, match="2 of 4 rows refused, nothing was written") as info:
        data.import_rows(rows)
    assert info.value.problems[0].startswith("row 3: 没有这个意图（unknown intent 'no_such_intent'")
    assert info.value.problems[1].startswith(
        "row 4: 已经有这条样例，属于意图 ask_authenticity（'是正品吗' already exists under intent 'ask_authenticity'"
    )
    with pytest.raises(ExampleError, match="row 2: '这款羊毛围巾有没有吊牌和专柜小票！' repeats row 1"):
        data.import_rows([rows[0], (rows[0][0], rows[0][1] + "！")])
    assert snapshot(data) == before

    assert data.import_rows(rows[:2] + [("ask_authenticity", "吊牌上的防伪码扫出来是真的吗")]) == {
        "ask_authenticity": 2,
        "track_order": 1,
    }
    after = snapshot(data)
    assert after["logistics.yml"] != before["logistics.yml"]
    assert {k for k in after if after[k] != before[k]} == {"presale.yml", "logistics.yml"}
    assert len(after["presale.yml"].split(b"\n")) == len(before["presale.yml"].split(b"\n")) + 2


def test_a_failed_replace_restores_every_file(data: TrainingData, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(data)
    real_replace, calls = examples_module.os.replace, []

    def flaky_replace(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 2:  # the first file is already replaced when the second fails
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(examples_module.os, "replace", flaky_replace)
    rows = [
        ("ask_authenticity", "这款羊毛围巾有没有吊牌和专柜小票"),
        ("track_order", "我买的那箱猫粮现在走到哪个城市了"),
    ]
    with pytest.raises(ExampleError, match="No space left on device"):
        data.import_rows(rows)
    assert snapshot(data) == before
    assert not list(data.data_dir.glob(".*.tmp"))


def test_edit_and_delete_change_only_that_line(data: TrainingData) -> None:
    before = snapshot(data)["presale.yml"]
    edited = data.edit("ask_authenticity", "是原厂货吗", "是原厂出的货吗")
    assert edited.file == "data/nlu/presale.yml"
    old, new = before.decode().split("\n"), snapshot(data)["presale.yml"].decode().split("\n")
    assert [(a, b) for a, b in zip(old, new, strict=True) if a != b] == [("    - 是原厂货吗", "    - 是原厂出的货吗")]
    assert (
        data.edit("ask_authenticity", "是原厂出的货吗", "是原厂出的货吗？").text == "是原厂出的货吗？"
    )  # same key: allowed
    with pytest.raises(ExampleError, match="already exists under intent 'ask_authenticity'"):
        data.edit("ask_authenticity", "是原厂出的货吗？", "是正品吗")
    with pytest.raises(ExampleError, match="'不存在的句子' is not an example of intent 'ask_authenticity'"):
        data.edit("ask_authenticity", "不存在的句子", "随便")

    data.delete("ask_authenticity", "是原厂出的货吗？")
    assert snapshot(data)["presale.yml"] == "\n".join(line for line in old if line != "    - 是原厂货吗").encode()
    with pytest.raises(ExampleError, match="is not an example"):
        data.delete("ask_authenticity", "是原厂出的货吗？")


def test_as_test_writes_to_the_test_set_copy(data: TrainingData) -> None:
    before = snapshot(data)
    example = data.add("ask_authenticity", "这件羊绒大衣吊牌能扫码查真伪不", as_test=True)
    assert example.file == "tests/nlu/test_nlu.yml"
    after = snapshot(data)
    assert_one_line_added(before["test_nlu.yml"], after["test_nlu.yml"], "    - 这件羊绒大衣吊牌能扫码查真伪不")
    assert {k for k in after if after[k] != before[k]} == {"test_nlu.yml"}
    assert example in data.examples("ask_authenticity", test=True)
    assert example not in data.examples("ask_authenticity")


def test_read_tsv_accepts_tabs_or_commas_with_an_optional_header(tmp_path: Path) -> None:
    tsv = tmp_path / "rows.tsv"
    tsv.write_text('intent\ttext\ngreet\t在吗, 老板\n\nbargain\t能便宜点吗 "包邮"\n', encoding="utf-8")
    assert read_tsv(tsv) == [("greet", "在吗, 老板"), ("bargain", '能便宜点吗 "包邮"')]
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text('\ufeffgreet,"在吗, 老板"\nbargain,能便宜点吗,包邮吗\n', encoding="utf-8")
    assert read_tsv(csv_file) == [("greet", "在吗, 老板"), ("bargain", "能便宜点吗,包邮吗")]
    (tmp_path / "bad.tsv").write_text("greet 你好\n", encoding="utf-8")
    with pytest.raises(ExampleError, match="line 1: expected intent"):
        read_tsv(tmp_path / "bad.tsv")
