"""Text normalisation of buyers' Chinese: traditional to simplified, full-width to
half-width, and every kind of white space to a plain space.

Every rewrite maps one character to one character, so the normalised text has the
same length as the buyer's and entity offsets stay valid for both.

Pure Python (OpenCC's tables), no Rasa: the Rasa component (bot.nlu.normalizer)
and the trainers' tools in the gateway share this one implementation.
"""

from __future__ import annotations

import functools
from typing import Any

_WHITESPACE = {"\t", "\n", "\r", "\u00a0", "\u3000", "\u2002", "\u2003", "\u200b"}
# Spellings OpenCC's t2s table leaves in a form buyers would not write in simplified.
_AFTER_T2S = {"甚么": "什么"}


@functools.lru_cache(maxsize=1)
def _converter() -> Any:
    from opencc import OpenCC  # the pure-Python OpenCC ships its tables, nothing downloads

    return OpenCC("t2s")


def _half_width(char: str) -> str:
    code = ord(char)
    if 0xFF01 <= code <= 0xFF5E:
        return chr(code - 0xFEE0)
    if char in _WHITESPACE:
        return " "
    return char


def normalize(text: str) -> str:
    """The normalised form of `text`; always exactly as long as `text`."""
    if not text:
        return text
    converted = _converter().convert(text)
    if len(converted) != len(text):
        # A phrase rule changed the length: fall back to character by character.
        converted = "".join(_converter().convert(c) or c for c in text)
        if len(converted) != len(text):
            converted = text
    for old, new in _AFTER_T2S.items():
        converted = converted.replace(old, new)
    return "".join(_half_width(c) for c in converted)
