"""Character embeddings learnt, without labels, from the shop's own text at training time.

Most of what buyers write never reaches a labelled example, but it still teaches which characters go
together (价保 and 补差价, 白条 and 分期). Word2Vec (gensim, skip-gram) over the characters of every training
message plus unlabelled buyer lines (`corpus_files`, e.g. the real-buyer pool) gives each character a
vector; a token's feature is the mean of its characters', the sentence's the mean of its tokens'. Trained
by `rasa train` itself, from files in the repository: nothing is downloaded.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import FEATURIZER_CLASS_ALIAS, TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.config import PROJECT_ROOT
from bot.nlu.text import normalize

logger = logging.getLogger(__name__)
_FILE = "char_vectors.npz"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=True)
class DomainEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense token and sentence features from character vectors trained on the shop's text."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            "corpus_files": [],  # unlabelled text, one message a line, relative to the project
            "dimensions": 100,
            "epochs": 10,
            "window": 5,
            "min_count": 2,
            "random_seed": 7,
        }

    def __init__(
        self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource, name: str, vectors: Any = None
    ) -> None:
        super().__init__(name, config)
        self._storage, self._resource = model_storage, resource
        self._vectors: dict[str, np.ndarray] = vectors or {}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> DomainEmbeddingFeaturizer:
        return cls(config, model_storage, resource, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        for name in config.get("corpus_files", []):
            if not (PROJECT_ROOT / name).is_file():
                raise ValueError(
                    f"DomainEmbeddingFeaturizer: corpus file {name} not found (relative to {PROJECT_ROOT})"
                )

    def _corpus(self, training_data: TrainingData) -> list[list[str]]:
        from bot.training import with_real_buyers

        lines = [m.get(TEXT) or "" for m in training_data.training_examples]
        if with_real_buyers():  # the pool is real-buyer research data: out with SHOP_REAL_BUYERS=0
            for name in self._config["corpus_files"]:
                path = PROJECT_ROOT / name
                lines += [normalize(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return [[c for c in line if not c.isspace()] for line in set(lines) if line.strip()]

    def train(self, training_data: TrainingData) -> Resource:
        from gensim.models import Word2Vec

        sentences = self._corpus(training_data)
        model = Word2Vec(
            sentences=sentences,
            vector_size=self._config["dimensions"],
            window=self._config["window"],
            min_count=self._config["min_count"],
            epochs=self._config["epochs"],
            sg=1,
            workers=1,  # one worker: the same vectors on every run (with the seed)
            seed=self._config["random_seed"],
        )
        self._vectors = {word: model.wv[word] for word in model.wv.index_to_key}
        logger.info("Trained %d character vectors on %d lines", len(self._vectors), len(sentences))
        with self._storage.write_to(self._resource) as directory:
            words = np.array(list(self._vectors))
            np.savez_compressed(directory / _FILE, words=words, vectors=np.array(list(self._vectors.values())))
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> DomainEmbeddingFeaturizer:
        try:
            with model_storage.read_from(resource) as directory:
                data = np.load(directory / _FILE)
                vectors = dict(zip(data["words"].tolist(), data["vectors"], strict=True))
        except ValueError:
            vectors = {}
        return cls(config, model_storage, resource, execution_context.node_name, vectors)

    def _token_vector(self, text: str) -> np.ndarray:
        known = [self._vectors[c] for c in text if c in self._vectors]
        return np.mean(known, axis=0) if known else np.zeros(self._config["dimensions"], dtype=np.float32)

    def _featurize(self, message: Message) -> None:
        tokens = message.get(TOKENS_NAMES[TEXT])
        if not tokens or not self._vectors:
            return
        sequence = np.array([self._token_vector(t.text) for t in tokens], dtype=np.float32)
        sentence = sequence.mean(axis=0, keepdims=True)
        norm = np.linalg.norm(sentence)
        sentence = sentence / norm if norm else sentence
        alias = self._config[FEATURIZER_CLASS_ALIAS]
        message.add_features(Features(sequence, FEATURE_TYPE_SEQUENCE, TEXT, alias))
        message.add_features(Features(sentence, FEATURE_TYPE_SENTENCE, TEXT, alias))

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._featurize(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data
