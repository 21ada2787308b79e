"""A linear intent classifier over character n-grams, alone or blended with DIET's ranking.

Real buyers' messages are long, run-on and full of typos and platform words; a regularised linear model
over TF-IDF character n-grams (which cross jieba's word boundaries and survive misspellings) generalises
from a few thousand labelled lines better than a neural network trained on them. With `blend` > 0 it
runs after DIET and mixes DIET's confidences in: p = (1 - blend) · p_linear + blend · p_DIET.

Its confidences are calibrated probabilities (logistic regression), so the FallbackClassifier's
threshold means what it says: "below this, the bot is more often wrong than right".
"""

from __future__ import annotations

import pickle
import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

_FILE = "ngram_classifier.pkl"
COURTESY_INTENTS = frozenset({"greet", "thank", "goodbye"})
NOT_A_REQUEST = COURTESY_INTENTS | {"affirm", "deny", "out_of_scope"}
# Greetings and thanks buyers wrap around a request (亲，在吗？… 谢谢): never the point of the message.
_COURTESY = re.compile(
    r"(?:亲亲|亲爱的|亲们|亲(?![子戚自手密身])|在吗|在不在|在么|有人吗|有人在吗|您好|你好|哈喽|哈啰|嗨|hi|hello|"
    r"谢谢|谢啦|多谢|感谢|辛苦了|麻烦了|麻烦你了)[呀啊哦呢啦嘛~～]*",
    re.IGNORECASE,
)
# Order and phone numbers are details, not words: their digits would outweigh the request around them
# ("发错颜色了 2611010000000003"). The same placeholders as the real-buyer pool's.
_PHONE = re.compile(r"(?<!\d)1\d{10}(?!\d)")
_LONG_NUMBER = re.compile(r"\d{9,}")
_ORDER_WORDS = re.compile(r"订单号|订单编号|订单|单号|号码|是|<ID>")
_REST = re.compile(r"[\u3400-\u9fffA-Za-z0-9]")


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class NgramIntentClassifier(GraphComponent, IntentClassifier):
    """TF-IDF over character 1..max_ngram-grams, then multinomial logistic regression."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "min_ngram": 1,
            "max_ngram": 4,
            # N-grams found in fewer training lines than this are dropped. With 20k real lines, 250k of the
            # 316k n-grams occur in one line only: noise more often than signal, and fitting them made
            # training take over 15 minutes instead of 3. A shop with only a handful of examples per intent
            # sets 1, so that a word seen once (白条) still counts.
            "min_df": 2,
            "C": 10.0,  # weak regularisation: many rare but telling n-grams (价保, 白条, 色差)
            "class_weight": "balanced",  # rare intents (invoice, colour) are not drowned by track_order
            "blend": 0.0,  # share of DIET's confidence in the result (0: this classifier alone)
            # Weight of the dense sentence features earlier featurizers set (e.g. DomainEmbeddingFeaturizer)
            # appended to the n-grams; 0 ignores them.
            "dense_weight": 0.0,
            "ranking_length": 10,
            "random_seed": 7,
        }

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource, model: Any = None):
        self.config = {**self.get_default_config(), **config}
        self._storage = model_storage
        self._resource = resource
        self._model = model  # (vectorizer, classifier) once trained or loaded

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> NgramIntentClassifier:
        return cls(config, model_storage, resource)

    def _pipeline(self) -> tuple[Any, Any]:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vectorizer = TfidfVectorizer(
            analyzer="char",
            ngram_range=(self.config["min_ngram"], self.config["max_ngram"]),
            sublinear_tf=True,
            lowercase=True,
            min_df=self.config["min_df"],
        )
        classifier = LogisticRegression(
            C=self.config["C"],
            class_weight=self.config["class_weight"],
            max_iter=2000,
            random_state=self.config["random_seed"],
        )
        return vectorizer, classifier

    def _features(self, vectorizer: Any, messages: list[Message], fit: bool = False) -> Any:
        texts = [_LONG_NUMBER.sub("<ID>", _PHONE.sub("<手机号>", m.get(TEXT) or "")) for m in messages]
        ngrams = vectorizer.fit_transform(texts) if fit else vectorizer.transform(texts)
        weight = float(self.config["dense_weight"])
        if not weight:
            return ngrams
        from scipy import sparse

        dense = []
        for message in messages:
            _, sentence = message.get_dense_features(TEXT)
            dense.append(sentence.features[0] * weight if sentence is not None else None)
        width = next((len(row) for row in dense if row is not None), 0)
        rows = [row if row is not None else [0.0] * width for row in dense]
        return sparse.hstack([ngrams, sparse.csr_matrix(rows)]).tocsr() if width else ngrams

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(TEXT) and m.get(INTENT)]
        vectorizer, classifier = self._pipeline()
        classifier.fit(self._features(vectorizer, examples, fit=True), [m.get(INTENT) for m in examples])
        self._model = (vectorizer, classifier)
        with self._storage.write_to(self._resource) as directory:
            (directory / _FILE).write_bytes(pickle.dumps(self._model))
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> NgramIntentClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                model = pickle.loads((directory / _FILE).read_bytes())  # our own model file, written by train()
        except ValueError:  # not trained (no NLU data): predicts nothing, as Rasa's own classifiers do
            model = None
        return cls(config, model_storage, resource, model)

    def probabilities(self, messages: list[Message]) -> list[dict[str, float]]:
        """Each message's probability per intent (this classifier alone)."""
        vectorizer, classifier = self._model
        rows = classifier.predict_proba(self._features(vectorizer, messages))
        return [dict(zip(classifier.classes_, map(float, row), strict=True)) for row in rows]

    def _without_courtesy(self, messages: list[Message], probabilities: list[dict[str, float]]) -> None:
        """Where a greeting or thanks came out on top, classify the message without it; a request left
        over wins (亲，在吗？这个能便宜点吗 is bargaining, not a greeting)."""
        for i, (message, probs) in enumerate(zip(messages, probabilities, strict=True)):
            if max(probs, key=probs.get) not in COURTESY_INTENTS:
                continue
            rest = _COURTESY.sub(" ", message.get(TEXT) or "")
            if len(_REST.findall(rest)) < 2:
                continue  # nothing but courtesy: a greeting or thanks it is
            stripped = self.probabilities([Message.build(text=rest)])[0]
            top = max(stripped, key=stripped.get)
            # Only a request the whole message already ranked near the top: what is left of
            # 谢谢你的耐心解答 is no complaint.
            if top not in NOT_A_REQUEST and top in sorted(probs, key=probs.get)[-3:] and stripped[top] >= 0.3:
                probabilities[i] = stripped

    @staticmethod
    def _order_number_as_detail(messages: list[Message], probabilities: list[dict[str, float]]) -> None:
        """An order number next to a request is a detail of it (我要退款 订单2611…): inform_order_id is
        only for a message that gives nothing but the number."""
        for i, (message, probs) in enumerate(zip(messages, probabilities, strict=True)):
            first, second = sorted(probs, key=probs.get, reverse=True)[:2]
            # Only a near tie: 我的订单号是2611… is confidently the number alone.
            if "inform_order_id" not in (first, second) or {first, second} & NOT_A_REQUEST:
                continue
            if probs[first] - probs[second] >= 0.1:
                continue
            words = _ORDER_WORDS.sub("", _LONG_NUMBER.sub("", message.get(TEXT) or ""))
            if len(_REST.findall(words)) >= 2:
                total = sum(p for intent, p in probs.items() if intent != "inform_order_id") or 1.0
                probabilities[i] = {k: (0.0 if k == "inform_order_id" else p / total) for k, p in probs.items()}

    def process(self, messages: list[Message]) -> list[Message]:
        if self._model is None:
            return messages
        blend = float(self.config["blend"])
        probabilities = self.probabilities(messages)
        self._without_courtesy(messages, probabilities)
        self._order_number_as_detail(messages, probabilities)
        for message, probs in zip(messages, probabilities, strict=True):
            if blend > 0:
                neural = {
                    r[INTENT_NAME_KEY]: r[PREDICTED_CONFIDENCE_KEY] for r in message.get(INTENT_RANKING_KEY) or []
                }
                probs = {i: (1 - blend) * p + blend * neural.get(i, 0.0) for i, p in probs.items()}
            ranking = sorted(probs.items(), key=lambda item: -item[1])[: self.config["ranking_length"]]
            top, confidence = ranking[0]
            message.set(INTENT, {INTENT_NAME_KEY: top, PREDICTED_CONFIDENCE_KEY: confidence}, add_to_output=True)
            message.set(
                INTENT_RANKING_KEY,
                [{INTENT_NAME_KEY: i, PREDICTED_CONFIDENCE_KEY: p} for i, p in ranking],
                add_to_output=True,
            )
        return messages
