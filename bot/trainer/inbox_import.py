"""`./shop inbox import`: a shop's chat history into the trainers' inbox, with the serving model's guesses.

Everything is checked before anything is written: the file is read and refused as a whole if it cannot be
imported (bot.trainer.chat_import), lines already known are dropped, the model guesses every new line, and
only then are all lines added in one transaction, so a failure at any step leaves the inbox as it was.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot import db
from bot.models import ImportedLine, InboxDecision
from bot.trainer import inbox, model_guesses
from bot.trainer.chat_import import ChatFile, ChatImportError, ChatLine, read_chat_file
from bot.trainer.examples import TrainingData, example_key

IN_DATA = "already training data or test messages"
IMPORTED = "already in the inbox (imported before)"
OPEN = "already in the inbox (from conversations)"
DECIDED = "already decided by a trainer"
REPEATED = "repeated within the file (counted once, with how often)"


@dataclass
class ImportSummary:
    file: str
    batch: str
    kept: int
    chat: ChatFile
    dropped: Counter[str] = field(default_factory=Counter)  # duplicates, by why
    model: str | None = None

    def lines(self) -> list[str]:
        """What happened, in English, for the operator."""
        out = [f"Read {self.file}: " + "; ".join(self.chat.notes) + "."]
        skipped = self.chat.skipped + self.dropped
        out.append(
            f"Imported {self.kept:,} new line{'s' * (self.kept != 1)} into the inbox"
            + (f" (batch {self.batch}, guesses by {self.model})" if self.kept else "")
            + (f"; left out {sum(skipped.values()):,}:" if skipped else ".")
        )
        out += [f"  {count:>7,}  {why}" for why, count in skipped.most_common()]
        return out


def import_chat_file(
    path: Path,
    source: str | None,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
    url: str | None = None,
) -> ImportSummary:
    """Import the buyers' lines of a chat export, all or nothing; ChatImportError (nothing written) when refused.

    A line's source is its row's source column, else `source`, else the file's name.
    """
    path = Path(path)
    chat = read_chat_file(path)
    known = {example_key(e.text) for e in TrainingData().examples(test=None)}
    with db.session_scope(url) as session:
        imported = set(session.scalars(select(ImportedLine.key)))
        decided = set(session.scalars(select(InboxDecision.key)))
        open_keys = {item.key for item in inbox.collect(session, limit=None)}
    summary = ImportSummary(path.name, f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}", 0, chat)
    new: dict[str, tuple[ChatLine, int]] = {}  # key -> (first line, occurrences in the file)
    for line in chat.lines:
        key = example_key(line.text)
        why = (
            IN_DATA if key in known else
            DECIDED if key in decided else
            IMPORTED if key in imported else
            OPEN if key in open_keys else
            REPEATED if key in new else None
        )  # fmt: skip
        if why:
            summary.dropped[why] += 1
            if why == REPEATED:
                first, count = new[key]
                new[key] = (first, count + 1)
            continue
        new[key] = (line, 1)
    if not new:
        return summary
    model = model_guesses.serving_model()
    summary.model = model.name
    guesses = model_guesses.top3([line.text for line, _ in new.values()], model, progress)
    rows = []
    for (key, (line, count)), top3 in zip(new.items(), guesses, strict=True):
        first = top3[0]["confidence"] if top3 else 0.0
        second = top3[1]["confidence"] if len(top3) > 1 else 0.0
        rows.append(
            ImportedLine(
                key=key,
                text=line.text,
                source=(line.source or source or path.stem)[:64],
                session=line.session,
                occurrences=count,
                top3=top3,
                top_confidence=first,
                margin=round(first - second, 4),
                imported_at=now,
                batch=summary.batch,
            )  # fmt: skip
        )
    try:
        with db.session_scope(url) as session:
            session.add_all(rows)
    except IntegrityError:
        raise ChatImportError(
            "another import added some of these lines meanwhile; nothing was imported, run the command again"
        ) from None
    summary.kept = len(rows)
    return summary
