"""The custom NLU components: normalisation and catalogue entities."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot import db
from bot.models import Product, Sku
from bot.nlu.catalogue_entities import CatalogueEntityExtractor, load_catalogue_terms
from bot.nlu.normalizer import ChineseNormalizer, normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("是正品嗎", "是正品吗"),
        ("能便宜點嗎？", "能便宜点吗?"),
        ("甚麼時候發貨", "什么时候发货"),
        ("ＺＰ吗　亲", "ZP吗 亲"),
        ("订单２６１１０１０００００００００４", "订单2611010000000004"),
        ("退款\n退货\t", "退款 退货 "),
    ],
)
def test_normalize_maps_one_character_to_one(raw: str, expected: str) -> None:
    assert normalize(raw) == expected
    assert len(normalize(raw)) == len(raw)


def test_normalizer_keeps_entity_offsets_valid() -> None:
    text = "我的訂單２６１１０１０００００００００４到哪了"
    message = Message.build(text=text)
    ChineseNormalizer().process([message])
    start = text.index("２")
    assert message.get("text")[start : start + 16] == "2611010000000004"


def _extract(extractor: CatalogueEntityExtractor, text: str) -> dict[str, str]:
    message = Message.build(text=text)
    extractor.process([message])
    return {e["entity"]: e["value"] for e in message.get("entities", [])}


def test_catalogue_entities_come_from_the_shop_database(shop_url: str) -> None:
    extractor = CatalogueEntityExtractor({"refresh_seconds": 0})
    found = _extract(extractor, "雾霾蓝的纯棉四件套1.8m床还有吗")
    assert found == {"color": "雾霾蓝", "product": "纯棉四件套", "size": "1.8m床"}
    assert _extract(extractor, "连衣裙有M码吗")["product"] == "碎花连衣裙"


def test_a_new_product_is_recognised_without_retraining(shop_url: str) -> None:
    extractor = CatalogueEntityExtractor({"refresh_seconds": 0})
    assert "product" not in _extract(extractor, "真丝眼罩有货吗")
    with db.session_scope() as s:
        product = Product(code="P99", name="真丝眼罩", aliases=["眼罩"], category="家居", material="桑蚕丝",
                          description="遮光", care="手洗", size_chart=[], credentials=[])  # fmt: skip
        product.skus.append(Sku(color="香槟金", size="均码", price=59, stock=10))
        s.add(product)
    assert _extract(extractor, "真丝眼罩有货吗")["product"] == "真丝眼罩"
    assert "香槟金" in load_catalogue_terms()["color"]


def test_extractor_keeps_serving_when_the_database_is_gone(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    extractor = CatalogueEntityExtractor({"refresh_seconds": 0})
    extractor.set_terms({"product": {"雨伞": "三折晴雨伞"}, "color": {}, "size": {}})
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'nothing.db'}")
    assert _extract(extractor, "雨伞防晒吗") == {"product": "三折晴雨伞"}
