"""Product, colour and size entities matched against the live shop catalogue.

A blank Chinese spaCy pipeline with per-character segmentation (so that a pattern
matches wherever it appears, whatever jieba would have cut) and a PhraseMatcher
built from the catalogue in the shop database. The patterns are rebuilt every
`refresh_seconds`, so a product added to the shop is recognised without retraining.
Nothing is downloaded: `spacy.blank("zh")` needs no model package.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import spacy
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from spacy.matcher import PhraseMatcher
from spacy.util import filter_spans

logger = logging.getLogger(__name__)

# Colours buyers name that a catalogue may not stock (yet); still worth recognising.
COMMON_COLORS = (
    "黑色", "白色", "红色", "蓝色", "绿色", "黄色", "灰色", "粉色", "紫色", "咖啡色",
    "卡其色", "米色", "杏色", "藏蓝", "深蓝", "浅蓝", "酒红", "驼色",
)  # fmt: skip


def load_catalogue_terms() -> dict[str, dict[str, str]]:
    """Surface form -> canonical value, per entity, from the shop database."""
    from bot.db import session_scope
    from bot.shop.catalogue import catalogue_terms

    with session_scope() as session:
        terms = catalogue_terms(session)
    for color in COMMON_COLORS:
        terms["color"].setdefault(color, color)
    return terms


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class CatalogueEntityExtractor(GraphComponent):
    """Adds product/color/size entities that other extractors did not already find."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"refresh_seconds": 60}

    def __init__(self, config: dict[str, Any]) -> None:
        self._refresh_seconds = float(config.get("refresh_seconds", 60))
        self._nlp = spacy.blank("zh")  # default segmenter "char": one token per character
        self._matcher: PhraseMatcher | None = None
        self._values: dict[str, dict[str, str]] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CatalogueEntityExtractor:
        return cls(config)

    @staticmethod
    def required_packages() -> list[str] | None:
        return ["spacy"]

    def set_terms(self, terms: dict[str, dict[str, str]]) -> None:
        """Replace the patterns (used by the refresh, and by tests)."""
        matcher = PhraseMatcher(self._nlp.vocab)
        for label, forms in terms.items():
            matcher.add(label, [self._nlp.make_doc(form) for form in forms])
        with self._lock:
            self._matcher, self._values = matcher, terms
            self._loaded_at = time.monotonic()

    def _refresh_if_due(self) -> None:
        if time.monotonic() - self._loaded_at < self._refresh_seconds:
            return
        try:
            self.set_terms(load_catalogue_terms())
        except Exception as exc:  # keep serving with the last good patterns
            logger.warning("Catalogue entities not refreshed (%s); keeping the previous patterns.", exc)
            self._loaded_at = time.monotonic()

    def process(self, messages: list[Message]) -> list[Message]:
        self._refresh_if_due()
        if self._matcher is None:
            return messages
        for message in messages:
            text = message.get(TEXT) or ""
            if text:
                self._extract(message, text)
        return messages

    def _extract(self, message: Message, text: str) -> None:
        doc = self._nlp.make_doc(text)
        spans = filter_spans(
            [doc[s:e] for _, s, e in self._matcher(doc)]  # type: ignore[misc]
        )
        entities = list(message.get(ENTITIES, []))
        taken = [(e[ENTITY_ATTRIBUTE_START], e[ENTITY_ATTRIBUTE_END]) for e in entities]
        for span in spans:
            start, end = span.start_char, span.end_char
            if any(s < end and start < e for s, e in taken):
                continue
            label = self._label_of(span)
            entities.append(
                {
                    ENTITY_ATTRIBUTE_TYPE: label,
                    ENTITY_ATTRIBUTE_START: start,
                    ENTITY_ATTRIBUTE_END: end,
                    ENTITY_ATTRIBUTE_VALUE: self._values[label][span.text],
                    EXTRACTOR: self.__class__.__name__,
                }
            )
        message.set(ENTITIES, entities, add_to_output=True)

    def _label_of(self, span: Any) -> str:
        for label in ("product", "color", "size"):
            if span.text in self._values.get(label, {}):
                return label
        raise KeyError(span.text)
