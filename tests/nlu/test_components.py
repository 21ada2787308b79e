"""The custom NLU components: normalisation and catalogue entities."""

from __future__ import annotations

from pathlib import Path

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


def _trained(component_class: type, config: dict, tmp_path: Path, examples: list[tuple[str, str]]) -> tuple:
    """Train a component on `examples` in a real model storage, then load it back as Rasa would."""
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.training_data import TrainingData

    storage = LocalModelStorage(tmp_path)
    resource = Resource(component_class.__name__)
    context = ExecutionContext(GraphSchema({}), node_name=component_class.__name__)
    full_config = {**component_class.get_default_config(), **config}
    component = component_class.create(full_config, storage, resource, context)
    data = TrainingData([Message.build(text=text, intent=intent) for intent, text in examples])
    component.train(data)
    return component_class.load(full_config, storage, resource, context), data


EXAMPLES = [
    ("bargain", "能便宜点吗"), ("bargain", "包邮吗"), ("bargain", "有优惠券吗"), ("bargain", "价保怎么申请"),
    ("ask_payment", "能用白条吗"), ("ask_payment", "可以花呗分期吗"), ("ask_payment", "付款失败了"),
    ("greet", "在吗"), ("greet", "你好"), ("greet", "亲在吗"),
]  # fmt: skip
TINY = {"min_df": 1}  # ten examples: a word seen once (白条) must still count


def test_ngram_classifier_learns_ranks_and_survives_saving(tmp_path: Path) -> None:
    from bot.nlu.ngram_classifier import NgramIntentClassifier

    classifier, _ = _trained(NgramIntentClassifier, TINY, tmp_path, EXAMPLES)
    message = Message.build(text="白条可以分期吗")
    classifier.process([message])
    ranking = message.get("intent_ranking")
    assert message.get("intent")["name"] == "ask_payment"
    assert [r["name"] for r in ranking][0] == "ask_payment" and len(ranking) == 3
    assert abs(sum(r["confidence"] for r in ranking) - 1) < 1e-6  # probabilities, so thresholds mean something
    assert ranking == sorted(ranking, key=lambda r: -r["confidence"])


def test_ngram_classifier_blends_an_earlier_classifiers_ranking(tmp_path: Path) -> None:
    from bot.nlu.ngram_classifier import NgramIntentClassifier

    classifier, _ = _trained(NgramIntentClassifier, {**TINY, "blend": 0.9}, tmp_path, EXAMPLES)
    message = Message.build(text="白条可以分期吗")
    message.set("intent_ranking", [{"name": "greet", "confidence": 1.0}])  # what DIET said, say
    classifier.process([message])
    assert message.get("intent")["name"] == "greet"


def test_domain_embeddings_give_every_token_and_the_sentence_a_vector(tmp_path: Path) -> None:
    from rasa.nlu.tokenizers.tokenizer import Token

    from bot.nlu.domain_embeddings import DomainEmbeddingFeaturizer

    featurizer, _ = _trained(DomainEmbeddingFeaturizer, {"dimensions": 16, "min_count": 1}, tmp_path, EXAMPLES)

    def featurized() -> Message:
        message = Message.build(text="能用白条吗")
        message.set("text_tokens", [Token("能", 0), Token("用", 1), Token("白条", 2), Token("吗", 4)])
        featurizer.process([message])
        return message

    sequence, sentence = featurized().get_dense_features("text")
    assert sequence.features.shape == (4, 16)
    assert sentence.features.shape == (1, 16) and abs(float((sentence.features**2).sum()) - 1) < 1e-5
    assert (featurized().get_dense_features("text")[1].features == sentence.features).all()


def test_ngram_classifier_lets_the_request_outweigh_a_greeting_or_thanks(tmp_path: Path) -> None:
    from bot.nlu.ngram_classifier import NgramIntentClassifier

    examples = [*EXAMPLES, ("thank", "谢谢"), ("thank", "谢谢亲"), ("thank", "辛苦了")]
    classifier, _ = _trained(NgramIntentClassifier, {}, tmp_path, examples)
    for text, intent in [
        ("亲，在吗？在吗 能用白条吗", "ask_payment"),
        ("包邮吗 谢谢亲", "bargain"),
        ("亲在吗", "greet"),
    ]:
        message = Message.build(text=text)
        classifier.process([message])
        assert message.get("intent")["name"] == intent, text


def test_ngram_classifier_treats_an_order_number_beside_a_request_as_a_detail(tmp_path: Path) -> None:
    from bot.nlu.ngram_classifier import NgramIntentClassifier

    examples = [*EXAMPLES, ("inform_order_id", "2611010000000001"), ("inform_order_id", "订单号2611010000000002"),
                ("inform_order_id", "单号是2611010000000005")]  # fmt: skip
    classifier, _ = _trained(NgramIntentClassifier, TINY, tmp_path, examples)
    for text, intent in [
        ("订单2611010000000009 能用白条吗", "ask_payment"),
        ("订单号2611010000000007", "inform_order_id"),
    ]:
        message = Message.build(text=text)
        classifier.process([message])
        assert message.get("intent")["name"] == intent, text
