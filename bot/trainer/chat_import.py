"""Reading a shop's exported chat history (TSV, CSV or JSONL; UTF-8 or GBK/GB18030) into buyers' lines.

Shops export chats from many tools, so the reader is forgiving about names (the text column may be `content`,
`消息` …) and strict about anything that would import the wrong thing: an undecodable file, no text column, a
speaker column whose buyer value it cannot tell, or a file of markup. It only reads; `ChatImportError` says why
a file is refused, and `ChatFile.notes` says what was read and skipped, for the operator.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.trainer.examples import MAX_LENGTH

MAX_BYTES = 50 * 1024 * 1024
# Lowercased header names, most specific first.
TEXT_COLUMNS = ("utterance", "text", "content", "message", "msg", "question", "query", "body",
                "内容", "消息", "消息内容", "聊天内容", "文本", "问题", "买家消息")  # fmt: skip
SPEAKER_COLUMNS = ("speaker", "role", "sender", "sender_type", "from", "waiter_send", "is_waiter",
                   "发送方", "发送者", "发送人", "角色", "身份")  # fmt: skip
SOURCE_COLUMNS = ("source", "channel", "platform", "shop", "来源", "渠道", "平台", "店铺")
SESSION_COLUMNS = ("session", "session_id", "sessionid", "conversation", "conversation_id", "dialog_id",
                   "chat_id", "会话", "会话id", "会话编号")  # fmt: skip
BUYER_VALUES = {"buyer", "customer", "user", "client", "visitor", "guest", "human",
                "买家", "顾客", "客户", "用户", "访客", "消费者"}  # fmt: skip
SHOP_VALUES = {"seller", "agent", "waiter", "staff", "service", "support", "bot", "assistant", "system", "shop",
               "客服", "卖家", "商家", "店家", "机器人", "系统", "小二"}  # fmt: skip
# In exports with a "did the waiter send it" flag (waiter_send, is_waiter), 0 is the buyer and 1 the shop.
_FLAG_COLUMN = re.compile(r"waiter|is_(staff|agent|seller)")

_TAG = re.compile(r"<[^<>]*>")
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_PAGE = re.compile(r"^\s*<(!doctype|[a-z][a-z0-9]*[\s>/])", re.IGNORECASE)  # a page or fragment, not a table
_SPACES = re.compile(r"\s+")


class ChatImportError(ValueError):
    """A file refused as a whole, with the reason in English for the operator."""


@dataclass
class ChatLine:
    text: str
    source: str | None
    session: str | None
    row: int  # 1-based data row in the file, for messages


@dataclass
class ChatFile:
    lines: list[ChatLine]
    rows: int  # data rows read
    format: str
    encoding: str
    text_column: str
    speaker_column: str | None = None
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> rows
    notes: list[str] = field(default_factory=list)  # what was read, for the summary


def read_chat_file(path: Path, max_bytes: int = MAX_BYTES) -> ChatFile:
    """The buyers' lines of a chat export; ChatImportError when the file cannot be imported as a whole."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ChatImportError(f"cannot read {path}: {exc.strerror}") from None
    if size > max_bytes:
        raise ChatImportError(
            f"{path.name} is {size / 1024 / 1024:.1f} MB; the limit is {max_bytes // 1024 // 1024} MB. "
            "Split it into smaller files and import them one by one."
        )
    content, encoding = _decode(path.read_bytes(), path.name)
    if not content.strip():
        raise ChatImportError(f"{path.name} is empty")
    if _HTML_PAGE.match(content):
        raise ChatImportError(f"{path.name} is HTML markup, not a chat export; export the chats as CSV, TSV or JSONL")
    kind = _format(path, content)
    records = _json_records(content, path.name) if kind == "JSONL" else _table_records(content, kind)
    if not records:
        raise ChatImportError(f"{path.name} has a header but no rows")
    return _buyer_lines(records, kind, encoding, path.name)


def _decode(raw: bytes, name: str) -> tuple[str, str]:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ChatImportError(f"{name} is UTF-16 text; save it as UTF-8 (or GBK) and import it again")
    if b"\x00" in raw:
        raise ChatImportError(f"{name} is a binary file (it contains NUL bytes), not a text export")
    try:
        return raw.decode("utf-8-sig"), "UTF-8"  # spreadsheet exports often start with a BOM
    except UnicodeDecodeError:
        pass
    try:
        # GB18030 is a superset of GBK and GB2312: Chinese Excel's "CSV" is one of them.
        return raw.decode("gb18030"), "GBK/GB18030"
    except UnicodeDecodeError as exc:
        raise ChatImportError(
            f"{name} is neither UTF-8 nor GBK/GB18030 text (undecodable byte at position {exc.start}); "
            "save it as UTF-8 and import it again"
        ) from None


def _format(path: Path, content: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "JSONL"
    if suffix == ".tsv":
        return "TSV"
    if suffix == ".csv":
        return "CSV"
    first = next(line for line in content.splitlines() if line.strip()).lstrip()
    if first.startswith(("{", "[")):
        return "JSONL"
    return "TSV" if "\t" in first else "CSV"


def _json_records(content: str, name: str) -> list[dict[str, Any]]:
    """Objects of a JSONL file (or of one JSON array, which some tools write instead)."""
    if content.lstrip().startswith("["):
        try:
            data = json.loads(content)
        except json.JSONDecodeError as exc:
            raise ChatImportError(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
        items = list(enumerate(data, 1)) if isinstance(data, list) else []
    else:
        items = []
        for n, line in enumerate(content.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ChatImportError(f"{name}, line {n}: not a JSON object ({exc.msg})") from None
    bad = next((n for n, item in items if not isinstance(item, dict)), None)
    if bad is not None:
        raise ChatImportError(f'{name}, line {bad}: expected a JSON object such as {{"text": "…"}}')
    return [{str(k): v for k, v in item.items()} for _, item in items]


def _table_records(content: str, kind: str) -> list[dict[str, Any]]:
    # TSV exports do not quote, so quote marks in a tab-separated text are the buyer's own.
    if kind == "TSV":
        reader = csv.reader(io.StringIO(content), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(content))
    try:
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise ChatImportError(f"the file is not valid {kind}: {exc}") from None
    header = [cell.strip() for cell in rows[0]]
    return [dict(zip(header, row, strict=False)) for row in rows[1:]]


def _column(names: list[str], wanted: tuple[str, ...]) -> str | None:
    by_name = {name.strip().lstrip("\ufeff").lower(): name for name in names}
    return next((by_name[w] for w in wanted if w in by_name), None)


def clean_text(value: Any) -> str:
    """A cell as one line of plain text: markup removed, entities decoded, runs of white space made one space."""
    text = "" if value is None else str(value)
    if "<" in text or "&" in text:
        text = html.unescape(_TAG.sub(" ", _SCRIPT.sub(" ", text)))
    return _SPACES.sub(" ", text).strip()


def _buyer_lines(records: list[dict[str, Any]], kind: str, encoding: str, name: str) -> ChatFile:
    columns = list(dict.fromkeys(key for record in records for key in record))
    text_column = _column(columns, TEXT_COLUMNS)
    if text_column is None:
        found = ", ".join(repr(c) for c in columns[:12]) or "none"
        raise ChatImportError(
            f"{name} has no text column: found {found}; name the column with the buyers' words "
            f"one of: {', '.join(TEXT_COLUMNS)}"
        )
    speaker_column = _column(columns, SPEAKER_COLUMNS)
    source_column, session_column = _column(columns, SOURCE_COLUMNS), _column(columns, SESSION_COLUMNS)
    chat = ChatFile([], len(records), kind, encoding, text_column, speaker_column)
    chat.notes.append(f"{kind}, {encoding}, {len(records):,} rows; text column {text_column!r}")
    is_buyer = _buyer_test(records, speaker_column, chat) if speaker_column else None
    markup_rows = 0
    for n, record in enumerate(records, 1):
        if is_buyer is not None and not is_buyer(record.get(speaker_column)):
            chat.skipped["said by the shop, not the buyer"] += 1
            continue
        raw = record.get(text_column)
        text = clean_text(raw)
        if not text:
            if raw is not None and str(raw).strip():
                markup_rows += 1
                chat.skipped["markup with no text"] += 1
            else:
                chat.skipped["empty"] += 1
            continue
        if len(text) > MAX_LENGTH:
            chat.skipped[f"longer than {MAX_LENGTH} characters (the longest a training example may be)"] += 1
            continue
        source = clean_text(record.get(source_column))[:64] if source_column else ""
        session = clean_text(record.get(session_column))[:128] if session_column else ""
        chat.lines.append(ChatLine(text, source or None, session or None, n))
    if not chat.lines and markup_rows:
        raise ChatImportError(f"{name} is markup with no chat text: every {text_column!r} cell is only HTML tags")
    if not chat.lines and chat.skipped:
        reasons = "; ".join(f"{count} {why}" for why, count in chat.skipped.items())
        raise ChatImportError(f"{name} has no buyer line to import ({reasons})")
    if source_column:
        chat.notes.append(f"source column {source_column!r}")
    if session_column:
        chat.notes.append(f"session column {session_column!r}")
    return chat


def _buyer_test(records: list[dict[str, Any]], column: str, chat: ChatFile) -> Any:
    """A predicate telling the buyer's rows by the speaker column, or ChatImportError when no value means the buyer."""
    values = Counter(clean_text(record.get(column)).lower() for record in records)
    flag = bool(_FLAG_COLUMN.search(column.lower()))
    buyer = {v for v in values if (v == "0" if flag else v in BUYER_VALUES)}
    if not buyer:
        seen = ", ".join(f"{v!r} ×{n}" for v, n in values.most_common(8))
        raise ChatImportError(
            f"the speaker column {column!r} has no value meaning the buyer (found {seen}); "
            f"expected one of {', '.join(sorted(BUYER_VALUES))}" + (" or 0 (not sent by the waiter)" if flag else "")
        )
    others = [v for v in values if v not in buyer]
    kept = ", ".join(repr(v) for v in sorted(buyer)) + (" (not sent by the waiter)" if flag else "")
    dropped = f"; dropped rows with {', '.join(repr(v) for v in sorted(others))}" if others else ""
    unknown = [v for v in others if not flag and v not in SHOP_VALUES]
    chat.notes.append(
        f"speaker column {column!r}: kept rows with {kept}{dropped}"
        + (f" (unrecognised: {', '.join(repr(v) for v in sorted(unknown))})" if unknown else "")
    )
    return lambda value: clean_text(value).lower() in buyer
