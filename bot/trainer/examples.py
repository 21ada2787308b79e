"""Checked changes to NLU examples: the one module through which trainers edit the training data and test set.

Files are edited as lines, not re-dumped, so comments, order and layout survive; every write is re-read
with PyYAML and Rasa before it atomically replaces the file, and a refused change leaves every file as it was.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import fcntl
import functools
import json
import os
import re
import shutil
import tempfile
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import yaml

from bot.config import PROJECT_ROOT
from bot.nlu.text import normalize

MAX_LENGTH = 300
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)
# [words](entity), [words](entity:synonym) or [words]{"entity": ...}: the forms Rasa reads.
_ANNOTATION = re.compile(r"\[([^\[\]]+)\](?:\(([^()]*)\)|(\{[^{}]*\}))")
# Brackets Rasa leaves as text: balanced and not followed by ( [ { (chat emotes such as "[微笑]").
_BARE_BRACKETS = re.compile(r"\[[^\[\]()]*\](?![(\[{])")
_INTENT_LINE = re.compile(r"^\s*- intent:\s*['\"]?([^'\"\s#]+)['\"]?\s*(?:#.*)?$")
_OTHER_ITEM_LINE = re.compile(r"^\s*- \w+:")
_EXAMPLES_LINE = re.compile(r"^(\s*)examples:\s*\|[+-]?\s*(?:#.*)?$")
_ITEM_LINE = re.compile(r"^(\s*-\s+)(.*?)(\s*)$")


class ExampleError(ValueError):
    """A refused change: a short Chinese reason for trainers, then the details in English; `problems` lists row-level reasons."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class Example(NamedTuple):
    intent: str
    text: str
    file: str  # relative to the project, e.g. "data/nlu/presale.yml"


def plain_text(text: str) -> str:
    """`text` with entity annotations replaced by the words they annotate."""
    return _ANNOTATION.sub(r"\1", text)


@functools.lru_cache(maxsize=65536)  # every check compares against every example; OpenCC is slow-ish
def example_key(text: str) -> str:
    """What two examples share when they are the same message: no annotations, script, width, case or punctuation."""
    plain = normalize(plain_text(text)).strip()
    # A message of only emoji ("👌") would have an empty key and clash with every other such message.
    return _NOISE.sub("", plain).lower() or plain


def _item_text(line: str) -> str:
    """The example on a `- text` line, or "" (the same rule as tests/nlu/test_nlu_quality.py)."""
    line = line.strip()
    return line[2:].strip() if line.startswith("- ") else ""


def is_near_copy(test_key: str, train_key: str) -> bool:
    """Whether a test message (by key) is a near copy of a training example: the held-out rule."""
    if len(test_key) < 6:
        return False
    m = difflib.SequenceMatcher(None, test_key, train_key, autojunk=False)
    return m.real_quick_ratio() >= 0.9 and m.quick_ratio() >= 0.9 and m.ratio() >= 0.9


def yaml_examples(content: str, label: str) -> list[tuple[str, str]]:
    """(intent, text) pairs as PyYAML reads them; ExampleError when the file is not valid NLU YAML."""
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        # PyYAML's own text names "<unicode string>" and spans lines; say where in the file, in one line.
        mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None) or str(exc)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        context = f" ({exc.context})" if getattr(exc, "context", None) else ""
        raise ExampleError(
            f"{label} 的 YAML 格式有误（malformed YAML in {label}{where}: {problem}{context}）"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("nlu") or [], list):
        raise ExampleError(
            f"{label} 的格式有误（malformed training data in {label}: expected a mapping with an 'nlu:' list）"
        )
    out = []
    for block in data.get("nlu") or []:
        if isinstance(block, dict) and "intent" in block:
            if not isinstance(block.get("examples"), str):
                raise ExampleError(
                    f"{label} 的格式有误（malformed training data in {label}: intent '{block['intent']}' has no 'examples: |'）"
                )
            out += [(str(block["intent"]), t) for t in map(_item_text, block["examples"].splitlines()) if t]
    return out


def read_domain(domain: Path) -> tuple[list[str], set[str]]:
    """(buyer intents in domain order, entity names) of a domain file."""
    data = yaml.safe_load(domain.read_text(encoding="utf-8")) or {}

    def names(items: list | None) -> list[str]:
        return [next(iter(i)) if isinstance(i, dict) else str(i) for i in items or []]

    # EXTERNAL_ intents are sent by services, never typed by buyers, so they get no examples.
    intents = [i for i in names(data.get("intents")) if not i.startswith("EXTERNAL_")]
    return intents, set(names(data.get("entities")))


@dataclass
class _Block:
    examples_line: int
    end: int  # last non-blank line of the block; new examples go after it
    items: list[int] = field(default_factory=list)


@dataclass
class _Source:
    path: Path
    label: str
    is_test: bool
    raw: bytes
    generated: bool  # written by bot.trainer.corpus from the real-buyer labels: read, never edited here
    lines: list[str]  # split on "\n" only, so "\n".join(lines) gives back the exact file
    blocks: dict[str, _Block] = field(default_factory=dict)
    items: list[tuple[str, str, int]] = field(default_factory=list)  # (intent, text, line index)


def _read_source(path: Path, label: str, is_test: bool, generated: bool = False) -> _Source:
    """Parse one NLU file by lines, refusing files whose lines disagree with what PyYAML reads."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ExampleError(f"cannot read {label}: {exc.strerror}") from None
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExampleError(f"{label} is not valid UTF-8: {exc}") from None
    parsed = yaml_examples(content, label)
    src = _Source(path, label, is_test, raw, generated, content.split("\n"))
    lines, intent, i = src.lines, None, 0
    while i < len(lines):
        if m := _INTENT_LINE.match(lines[i]):
            intent = m[1]
        elif (m := _EXAMPLES_LINE.match(lines[i])) and intent:
            block, depth = _Block(examples_line=i, end=i), len(m[1])
            while i + 1 < len(lines) and (not lines[i + 1].strip() or _indent(lines[i + 1]) > depth):
                i += 1
                if lines[i].strip():
                    block.end = i
                if text := _item_text(lines[i]):
                    block.items.append(i)
                    src.items.append((intent, text, i))
            src.blocks.setdefault(intent, block)
            intent = None
        elif _OTHER_ITEM_LINE.match(lines[i]):
            intent = None  # a regex/lookup/synonym entry: its examples belong to no intent
        i += 1
    if Counter((a, b) for a, b, _ in src.items) != Counter(parsed):
        raise ExampleError(f"{label} is laid out in a way this tool cannot edit safely; fix it by hand")
    return src


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _stage(path: Path, data: bytes) -> Path:
    """Write `data` to a synced temp file next to `path` (same file system, so os.replace is atomic)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        shutil.copymode(path, name)  # mkstemp creates 0600; keep the file's own permissions
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


class TrainingData:
    """The training examples under data/nlu/ and the held-out test set, changed only through checked edits."""

    def __init__(self, data_dir: Path | None = None, test_set: Path | None = None, domain: Path | None = None) -> None:
        self.data_dir = Path(data_dir or PROJECT_ROOT / "data" / "nlu")
        self.root = self.data_dir.parent.parent  # so files are named "data/nlu/presale.yml" in messages
        self.test_set = Path(test_set or PROJECT_ROOT / "tests" / "nlu" / "test_nlu.yml")
        self.domain = Path(domain or PROJECT_ROOT / "domain.yml")

    def _label(self, path: Path) -> str:
        for base in (self.root, PROJECT_ROOT):
            if path.is_relative_to(base):
                return path.relative_to(base).as_posix()
        return str(path)

    def _domain(self) -> tuple[list[str], set[str]]:
        try:
            return read_domain(self.domain)
        except (OSError, yaml.YAMLError) as exc:
            raise ExampleError(f"cannot read the domain {self._label(self.domain)}: {exc}") from None

    def _load(self) -> list[_Source]:
        """Every file read afresh (others may have edited it): hand-written training files first, test sets last.

        The real-buyer files (data/nlu/real/, tests/nlu/real_buyers_test.yml) are checked against like any
        other example, but only bot.trainer.corpus writes them.
        """
        real_test = self.test_set.with_name("real_buyers_test.yml")
        paths = [(p, False, False) for p in sorted(self.data_dir.glob("*.yml"))]
        paths += [(p, False, True) for p in sorted((self.data_dir / "real").glob("*.yml"))]
        paths += [(self.test_set, True, False)] + ([(real_test, True, True)] if real_test.is_file() else [])
        return [_read_source(p, self._label(p), is_test, generated) for p, is_test, generated in paths]

    def intents(self) -> list[str]:
        """The buyer intents declared in the domain, in domain order."""
        return self._domain()[0]

    def examples(
        self, intent: str | None = None, search: str | None = None, *, test: bool | None = False
    ) -> list[Example]:
        """Training examples (test=True: the test messages, None: both), optionally one intent's, matching `search`."""
        needle = normalize(search.strip()).lower() if search else ""
        return [
            Example(i, t, s.label)
            for s in self._load()
            if test is None or s.is_test == test
            for i, t, _ in s.items
            if (intent is None or i == intent) and needle in normalize(plain_text(t)).lower()
        ]

    def counts(self) -> Counter[tuple[str, bool]]:
        """How many examples each (intent, is it the test set) has, from one reading of the files."""
        return Counter((intent, s.is_test) for s in self._load() for intent, _, _ in s.items)

    def _validate(self, intent: str, text: str, intents: list[str], entities: set[str]) -> str:
        """The cleaned example text, or ExampleError saying why it cannot be an example."""
        if intent not in intents:
            raise ExampleError(f"没有这个意图（unknown intent '{intent}' (known: {', '.join(intents)})）")
        text = (text or "").strip()
        if not text:
            raise ExampleError("样例是空的（example is empty）")
        if len(text) > MAX_LENGTH:
            raise ExampleError(
                f"样例太长，最多 {MAX_LENGTH} 字（example is longer than {MAX_LENGTH} characters ({len(text)})）"
            )
        # Line breaks of any kind would split the example across lines of the YAML block.
        if bad := next((c for c in text if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None):
            raise ExampleError(
                f"样例里有换行或控制字符，请写成一行（example contains a control character (U+{ord(bad):04X}); write it on one line）"
            )
        for m in _ANNOTATION.finditer(text):
            try:
                entity = json.loads(m[3]).get("entity") if m[3] else m[2].split(":", 1)[0].strip()
            except (ValueError, AttributeError):
                raise ExampleError(f"实体标注格式有误（malformed entity annotation '{m[0]}'）") from None
            if entity not in entities:
                raise ExampleError(
                    f"没有这个实体（unknown entity '{entity}' in '{m[0]}' (known: {', '.join(sorted(entities))})）"
                )
        rest = _BARE_BRACKETS.sub("", _ANNOTATION.sub("", text))
        if "[" in rest or "]" in rest:
            raise ExampleError(
                f"方括号不成对，实体请这样标注：[藏青色](color)（unbalanced or malformed brackets in '{text}'）"
            )
        return text

    def _check_clash(
        self, sources: list[_Source], text: str, to_test: bool, skip: tuple[Path, int] | None = None
    ) -> None:
        """Refuse a message already present anywhere, or one that would blur training and test data."""
        key, held_out = example_key(text), "; the test set must stay held out from the training data"
        for src in sources:
            for other_intent, other, line in src.items:
                if (src.path, line) == skip:
                    continue
                where = f"under intent '{other_intent}' in {src.label}"
                if example_key(other) == key:
                    shown = "" if other == text else f" as '{other}'"
                    raise ExampleError(
                        f"已经有这条样例，属于意图 {other_intent}（'{text}' already exists {where}{shown}"
                        + (held_out if src.is_test != to_test else "")
                        + "）"
                    )
                if src.is_test != to_test and is_near_copy(
                    *((key, example_key(other)) if to_test else (example_key(other), key))
                ):
                    raise ExampleError(
                        f"和意图 {other_intent} 的样例几乎一样（'{text}' is nearly a copy of '{other}' {where}{held_out}）"
                    )

    def _target(self, sources: list[_Source], intent: str, as_test: bool) -> _Source:
        for src in sources:
            if src.is_test == as_test and not src.generated and intent in src.blocks:
                return src
        where = self._label(self.test_set) if as_test else self._label(self.data_dir) + "/*.yml"
        raise ExampleError(f"intent '{intent}' has no 'examples: |' block in {where}; add the block by hand first")

    def _find(self, sources: list[_Source], intent: str, text: str) -> tuple[_Source, int]:
        text = (text or "").strip()
        for src in sources:  # training files first, the test set last
            for other_intent, other, line in src.items:
                if other_intent == intent and other == text:
                    if src.generated:
                        raise ExampleError(
                            f"这条是真实买家的标注数据，请在 data/real_buyers/labels.tsv 里修改标注（'{text}' in "
                            f"{src.label} is generated from data/real_buyers/labels.tsv: change its label there, "
                            "then run python -m bot.trainer.corpus build）"
                        )
                    return src, line
        if intent not in self.intents():
            raise ExampleError(f"没有这个意图（unknown intent '{intent}' (known: {', '.join(self.intents())})）")
        raise ExampleError(f"找不到这条样例，可能已被别人修改（'{text}' is not an example of intent '{intent}'）")

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Edits read, check and rewrite whole files: one at a time across the console, the CLI and any process."""
        with (self.data_dir / ".edits.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def add(self, intent: str, text: str, as_test: bool = False) -> Example:
        """Append one example to the file holding `intent` (the test set when as_test)."""
        return self._add_all([(intent, text)], as_test)[0]

    def import_rows(self, rows: Iterable[tuple[str, str]], as_test: bool = False) -> dict[str, int]:
        """Add (intent, text) rows all or nothing; returns how many were added per intent."""
        return dict(Counter(e.intent for e in self._add_all(list(rows), as_test)))

    def _add_all(self, rows: list[tuple[str, str]], as_test: bool) -> list[Example]:
        with self._exclusive():
            return self._add_all_locked(rows, as_test)

    def _add_all_locked(self, rows: list[tuple[str, str]], as_test: bool) -> list[Example]:
        sources, (intents, entities) = self._load(), self._domain()
        problems, added, seen = [], [], {}
        for n, (intent, text) in enumerate(rows, 1):
            try:
                text = self._validate(intent, text, intents, entities)
                self._check_clash(sources, text, as_test)
                if example_key(text) in seen:
                    raise ExampleError(f"'{text}' repeats row {seen[example_key(text)]}")
                added.append((self._target(sources, intent, as_test), intent, text))
                seen[example_key(text)] = n
            except ExampleError as exc:
                problems.append(f"row {n}: {exc}" if len(rows) > 1 else str(exc))
        if problems:
            if len(rows) == 1:
                raise ExampleError(problems[0])
            raise ExampleError(
                f"{len(problems)} of {len(rows)} rows refused, nothing was written:\n" + "\n".join(problems), problems
            )
        changes = []
        for src in {id(s): s for s, _, _ in added}.values():
            lines, mine = list(src.lines), [(i, t) for s, i, t in added if s is src]
            # Insert bottom-up so the line numbers of blocks above stay valid.
            for intent in sorted({i for i, _ in mine}, key=lambda i: -src.blocks[i].end):
                block = src.blocks[intent]
                indent = (
                    _ITEM_LINE.match(lines[block.items[-1]])[1]
                    if block.items
                    else " " * (_indent(lines[block.examples_line]) + 2) + "- "
                )
                eol = "\r" if lines[block.end].endswith("\r") else ""  # keep CRLF files CRLF
                lines[block.end + 1 : block.end + 1] = [f"{indent}{t}{eol}" for i, t in mine if i == intent]
            changes.append((src, lines, [], mine))
        self._commit(changes)
        return [Example(i, t, s.label) for s, i, t in added]

    def edit(self, intent: str, old_text: str, new_text: str) -> Example:
        """Replace one example's text in place (training data or test set, wherever it is)."""
        with self._exclusive():
            return self._edit_locked(intent, old_text, new_text)

    def _edit_locked(self, intent: str, old_text: str, new_text: str) -> Example:
        sources, (intents, entities) = self._load(), self._domain()
        src, line = self._find(sources, intent, old_text)
        old, new = _item_text(src.lines[line]), self._validate(intent, new_text, intents, entities)
        if new != old:
            self._check_clash(sources, new, src.is_test, skip=(src.path, line))
            lines = list(src.lines)
            m = _ITEM_LINE.match(lines[line])
            lines[line] = m[1] + new + m[3]
            self._commit([(src, lines, [(intent, old)], [(intent, new)])])
        return Example(intent, new, src.label)

    def delete(self, intent: str, text: str) -> Example:
        """Remove one example; the last example of an intent in a file stays (an empty block breaks training)."""
        with self._exclusive():
            return self._delete_locked(intent, text)

    def _delete_locked(self, intent: str, text: str) -> Example:
        sources = self._load()
        src, line = self._find(sources, intent, text)
        old = _item_text(src.lines[line])
        if sum(i == intent for i, _, _ in src.items) == 1:
            raise ExampleError(
                f"这是该意图在此文件里的最后一条样例，不能删除（'{old}' is the last example of intent '{intent}' in {src.label} and cannot be deleted）"
            )
        self._commit([(src, src.lines[:line] + src.lines[line + 1 :], [(intent, old)], [])])
        return Example(intent, old, src.label)

    def _verify(self, src: _Source, new: str, removed: list[tuple[str, str]], added: list[tuple[str, str]]) -> None:
        """Refuse `new` unless PyYAML and Rasa both read exactly the old examples with this change applied."""
        # src.items already agree with what PyYAML reads in the old file (_read_source checked).
        expected = Counter((intent, text) for intent, text, _ in src.items) - Counter(removed) + Counter(added)
        try:
            got = Counter(yaml_examples(new, src.label))
        except ExampleError as exc:
            raise ExampleError(f"refusing to write {src.label}: {exc}") from None
        if got != expected:
            raise ExampleError(f"refusing to write {src.label}: the edited file does not read back as intended")
        from rasa.shared.nlu.training_data.loading import load_data  # heavy import, only needed when writing

        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / src.path.name
            copy.write_text(new, encoding="utf-8")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    data = load_data(str(copy))
            except Exception as exc:  # Rasa raises many kinds; all mean "do not write this"
                message = str(exc).replace(str(copy), src.label)
                raise ExampleError(f"refusing to write {src.label}: Rasa cannot load it: {message}") from None
        want = {(i, plain_text(t)) for i, t in expected}
        if diff := want ^ {(m.get("intent"), m.get("text")) for m in data.intent_examples}:
            raise ExampleError(
                f"refusing to write {src.label}: Rasa reads these examples differently: {sorted(diff)[:3]}"
            )

    def _commit(self, changes: list[tuple[_Source, list[str], list[tuple[str, str]], list[tuple[str, str]]]]) -> None:
        """Verify and stage every file, then replace them; on any failure restore what was already replaced."""
        staged: list[tuple[_Source, Path]] = []
        replaced: list[_Source] = []
        try:
            for src, lines, removed, added in changes:
                new = "\n".join(lines)
                self._verify(src, new, removed, added)
                staged.append((src, _stage(src.path, new.encode("utf-8"))))
            for src, _ in staged:
                if src.path.read_bytes() != src.raw:
                    raise ExampleError(
                        f"{src.label} was changed by someone else meanwhile; nothing was written, try again"
                    )
            for src, tmp in staged:
                os.replace(tmp, src.path)
                replaced.append(src)
            for directory in {src.path.parent for src in replaced}:  # make the renames themselves durable
                fd = os.open(directory, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except BaseException as exc:
            for src in replaced:
                os.replace(_stage(src.path, src.raw), src.path)
            if isinstance(exc, OSError):
                raise ExampleError(f"could not save the training data ({exc}); no file was changed") from exc
            raise
        finally:
            for _, tmp in staged:
                tmp.unlink(missing_ok=True)


def read_tsv(path: Path) -> list[tuple[str, str]]:
    """(intent, text) rows from a file of `intent<TAB>text` or `intent,text` lines; an `intent` header row is skipped."""
    try:
        content = Path(path).read_text(encoding="utf-8-sig")  # spreadsheet exports often start with a BOM
    except UnicodeDecodeError:
        raise ExampleError(f"{path} is not UTF-8 text; save it as UTF-8 CSV or TSV") from None
    rows: list[tuple[str, str]] = []
    sep = None
    for n, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        sep = sep or ("\t" if "\t" in line else ",")  # decided by the first row
        # TSV exports do not quote, so quote marks in a tab-separated text are the buyer's own.
        fields = next(csv.reader([line], delimiter=sep, quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL))
        if len(fields) < 2:
            raise ExampleError(f"{path}, line {n}: expected intent{'<TAB>' if sep == chr(9) else ','}text")
        intent, text = fields[0].strip(), sep.join(fields[1:]).strip()  # unquoted commas belong to the text
        if not rows and intent.lower() == "intent":
            continue  # the header row
        rows.append((intent, text))
    return rows
