"""Questions buyers ask in the middle of a form that we can answer without leaving it."""

from __future__ import annotations

import re

from rasa_sdk.executor import CollectingDispatcher

from bot.policy import policy
from bot.policy_answers import policy_answer

# "Who pays the postage back?", asked with a return (我要退货 运费谁出) or during one.
POSTAGE_QUESTION = re.compile(
    r"运费.{0,6}(谁|承担|出|报销|怎么算|多少|退吗|险)|谁.{0,3}(出|付|承担).{0,2}运费|邮费.{0,4}(谁|承担)"
)


def answer_postage_question(dispatcher: CollectingDispatcher, text: str) -> bool:
    """Answer the return-postage question if `text` asks it; whether it did."""
    if not POSTAGE_QUESTION.search(text):
        return False
    dispatcher.utter_message(response="utter_return_postage", **policy_answer("utter_return_postage", policy()))
    return True
