"""How the real-buyer labels in data/real_buyers/ were made, step by step (see its README).

    python scripts/real_buyers.py select --model M    # 7,200 pool lines: random by source + the model's unsure ones
    python scripts/real_buyers.py targeted             # 2,400 more: random shop chats + likely rare intents
    python scripts/real_buyers.py uncertain            # 4,000 more: random + unsure for a model trained on them
    python scripts/real_buyers.py batches selection.tsv --first 1 --count 6 --overlap 65 --seed 11
    python scripts/real_buyers.py batches selection2.tsv --first 7 --count 3 --overlap 45 --seed 40
    python scripts/real_buyers.py batches selection3.tsv --first 11 --count 4 --overlap 40 --seed 60
    python scripts/real_buyers.py more --round 4 --total 6000  # later rounds: rare-intent guesses, unsure, random
    python scripts/real_buyers.py batches selection4.tsv --first 21 --count 6 --overlap 50 --seed 80
    python scripts/real_buyers.py remainder --round 5 --qasc 3300  # every chat line left, QASC to a third
    python scripts/real_buyers.py batches selection5.tsv --first 31 --count 4 --overlap 40 --seed 90
    python scripts/real_buyers.py merge                # labelsN.tsv -> data/real_buyers/labels.tsv, agreement.tsv

Work files live in var/labelling/ (batchN.tsv to read, labelsN.tsv written by reader N, owners.tsv saying
whose batch each line is and who labelled it a second time, blind). A label is a reader's judgement: nothing
here assigns one. `python -m bot.trainer.corpus build` then makes the training and test files.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.trainer.agreement import cohen_kappa  # noqa: E402

POOL = ROOT.parent / "shared" / "real_buyers" / "pool.tsv"
WORK = ROOT / "var" / "labelling"

# Buyer-to-buyer questions are another register: at most a third of what we label.
QASC_SHARE = 0.3


def line_id(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def read_pool(path: Path = POOL) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def guesses(model: Path, texts: list[str]) -> list[tuple[str, float, float]]:
    """The bot's (top intent, confidence, margin to the second) for every text."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))

    async def parse_all() -> list[tuple[str, float, float]]:
        out = []
        for i, text in enumerate(texts):
            parsed = await agent.parse_message(text)
            ranking = parsed.get("intent_ranking") or [parsed.get("intent") or {}]
            top = ranking[0].get("confidence", 0.0)
            second = ranking[1].get("confidence", 0.0) if len(ranking) > 1 else 0.0
            out.append(((parsed.get("intent") or {}).get("name") or "nlu_fallback", float(top), float(top - second)))
            if i % 2000 == 0:
                print(f"  guessed {i}/{len(texts)}", file=sys.stderr, flush=True)
        return out

    return asyncio.run(parse_all())


def select(model: Path, total: int, seed: int = 9) -> None:
    rows = read_pool()
    guessed = guesses(model, [r["utterance"] for r in rows])
    for row, (intent, confidence, margin) in zip(rows, guessed, strict=True):
        row.update(guess=intent, confidence=f"{confidence:.3f}", margin=f"{margin:.3f}")
    rng = random.Random(seed)
    chosen: dict[str, dict[str, str]] = {}
    for group, share in (("qasc", QASC_SHARE), ("chat", 1 - QASC_SHARE)):
        members = [r for r in rows if r["source"].startswith("QASC") == (group == "qasc")]
        quota = int(total * share)
        # Half a random sample by source (what buyers really send), half the bot's uncertain lines,
        # spread over its guessed intents so rare intents are covered (active learning).
        by_source: dict[str, list[dict[str, str]]] = defaultdict(list)
        for r in members:
            by_source[r["source"]].append(r)
        for lines in by_source.values():
            for r in rng.sample(lines, round(quota / 2 * len(lines) / len(members))):
                r["why"] = "random"
                chosen.setdefault(line_id(r["utterance"]), r)
        by_guess: dict[str, list[dict[str, str]]] = defaultdict(list)
        for r in members:
            if line_id(r["utterance"]) not in chosen:
                by_guess[r["guess"]].append(r)
        left = quota - sum(1 for r in chosen.values() if r["source"].startswith("QASC") == (group == "qasc"))
        per_guess = max(1, left // len(by_guess))
        picked: list[dict[str, str]] = []
        for _, lines in sorted(by_guess.items()):
            lines.sort(key=lambda r: float(r["margin"]))
            picked += lines[:per_guess]
        rest = sorted((r for lines in by_guess.values() for r in lines[per_guess:]), key=lambda r: float(r["margin"]))
        picked += rest[: max(0, left - len(picked))]
        for r in picked[:left]:
            r["why"] = "uncertain"
            chosen.setdefault(line_id(r["utterance"]), r)
    WORK.mkdir(parents=True, exist_ok=True)
    out = WORK / "selection.tsv"
    columns = ["id", "utterance", "source", "session", "guess", "confidence", "margin", "why"]
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n")
        writer.writerow(columns)
        for key, r in chosen.items():
            writer.writerow([key] + [r[c] for c in columns[1:]])
    print(f"{len(chosen)} lines -> {out}")
    print(Counter(r["why"] for r in chosen.values()))
    print(Counter(r["guess"] for r in chosen.values()).most_common())
    print(Counter(r["source"] for r in chosen.values()).most_common())


# Keywords only choose which lines a person reads next (intents the first round found few of).
RARE = {
    "color_difference": r"色差|颜色.{0,6}(不一样|不同|深|浅|差)|跟图片|和图片|与图片|实物.{0,4}(图|照片)|掉色|褪色",
    "wrong_or_missing_item": r"发错|错发|少发|漏发|少了|缺了|没有.{0,3}(赠品|配件)|不是我买的|发成",
    "request_human": r"人工|机器人|真人|客服电话",
    "request_exchange": r"换货|换一个|调换|换个|换成",
    "ask_authenticity": r"正品|假货|假的|翻新|授权|真的吗|行货|水货|原装",
    "greet": r"^(你好|您好|在吗|在不在|有人吗|hi|hello|亲)[啊呀吗么嘛？?!！。，, ]*$",
    "goodbye": r"拜拜|再见|没事了|先这样",
    "deny": r"^(不用|不要|不是|算了|没有|不需要)",
    "inform_order_id": r"<ID>|订单号|单号",
    "ask_payment": r"白条|花呗|分期|付款|支付|货到付款",
    "bargain": r"便宜|优惠|券|包邮|价保|保价|差价|满减|赠品|降价|活动",
    "ask_size": r"尺码|码数|偏大|偏小|多大码|大一码|小一码|身高|体重|斤",
    "complain": r"投诉|差评|态度|骗|垃圾|12315|曝光",
}
QASC_RICH = ("color_difference", "ask_authenticity", "ask_size")  # intents buyer-to-buyer questions are full of


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def _write(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("\t".join(columns) + "\n")
        for r in rows:
            f.write("\t".join(str(r[c]) for c in columns) + "\n")


def targeted(total: int = 2400, seed: int = 21) -> None:
    """A second round: lines likely to hold the rarest intents, then random shop chats (no QASC) to `total`."""
    chosen = {r["id"] for r in _read(WORK / "selection.tsv")}
    rows = [{**r, "id": line_id(r["utterance"])} for r in read_pool()]
    rows = [r for r in rows if r["id"] not in chosen]
    rng = random.Random(seed)
    picked: dict[str, dict[str, str]] = {}
    for intent, pattern in RARE.items():
        found = [r for r in rows if re.search(pattern, r["utterance"], re.I) and r["id"] not in picked]
        chat = [r for r in found if not r["source"].startswith("QASC")]
        qasc = [r for r in found if r["source"].startswith("QASC")]
        for r in rng.sample(chat, min(len(chat), 110)) + rng.sample(
            qasc, min(len(qasc), 35 if intent in QASC_RICH else 10)
        ):
            picked[r["id"]] = {**r, "why": f"targeted:{intent}"}
    rest = [r for r in rows if not r["source"].startswith("QASC") and r["id"] not in picked]
    for r in rng.sample(rest, total - len(picked)):
        picked[r["id"]] = {**r, "why": "random"}
    out = list(picked.values())
    rng.shuffle(out)
    _write(WORK / "selection2.tsv", ["id", "utterance", "source", "session", "why"], out)
    print(f"{len(out)} lines -> var/labelling/selection2.tsv", Counter(r["why"] for r in out).most_common())


def _guesses_of_a_model_trained_on_the_labels(rows: list[dict[str, str]]) -> tuple[Any, Any]:
    """A TF-IDF + LR trained on everything the bot trains on, and its probabilities for each row's text:
    later rounds use them to choose what a person reads next (never as a label)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from bot.nlu.normalizer import normalize
    from bot.trainer.evaluation import training_examples

    train = training_examples()
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    model = LogisticRegression(C=10, class_weight="balanced", max_iter=1000)
    model.fit(vectorizer.fit_transform([normalize(t) for _, t in train]), [i for i, _ in train])
    return model, model.predict_proba(vectorizer.transform([normalize(r["utterance"]) for r in rows]))


def uncertain(total: int = 4000, seed: int = 33) -> None:
    """A third round for the model that now learns from real lines: half a random sample of what is left,
    half the lines a TF-IDF + LR trained on today's data is least sure of (smallest top-two margin)."""
    done = {r["id"] for name in ("selection.tsv", "selection2.tsv") for r in _read(WORK / name)}
    done |= {r["id"] for r in _read(LABELS)}
    rows = [{**r, "id": line_id(r["utterance"])} for r in read_pool()]
    rows = [r for r in rows if r["id"] not in done]
    model, probabilities = _guesses_of_a_model_trained_on_the_labels(rows)
    for r, p in zip(rows, probabilities, strict=True):
        top = sorted(p)[-2:]
        r["margin"] = top[1] - top[0]
    rng = random.Random(seed)
    qasc = [r for r in rows if r["source"].startswith("QASC")]
    chat = [r for r in rows if not r["source"].startswith("QASC")]
    picked: dict[str, dict[str, str]] = {}
    for group, share in ((chat, 0.8), (qasc, 0.2)):  # buyer-to-buyer questions stay under a third overall
        quota = int(total * share)
        for r in rng.sample(group, quota // 2):
            picked[r["id"]] = {**r, "why": "random"}
        for r in sorted((r for r in group if r["id"] not in picked), key=lambda r: r["margin"])[: quota - quota // 2]:
            picked[r["id"]] = {**r, "why": "uncertain"}
    out = list(picked.values())
    rng.shuffle(out)
    _write(WORK / "selection3.tsv", ["id", "utterance", "source", "session", "why"], out)
    print(f"{len(out)} lines -> var/labelling/selection3.tsv", Counter(r["why"] for r in out).most_common())


def more(total: int, round_no: int, seed: int) -> None:
    """A later round, chosen by a TF-IDF + LR trained on every label so far: lines it guesses to be a rare
    intent (its most confident ones per intent, so a person confirms or corrects them), lines it is least
    sure of, and a random sample of what is left (what buyers really send; the test set is drawn from those).
    """
    done = {r["id"] for r in _read(LABELS)}
    done |= {r["id"] for p in WORK.glob("selection*.tsv") for r in _read(p)}
    rows = [{**r, "id": line_id(r["utterance"])} for r in read_pool()]
    rows = [r for r in rows if r["id"] not in done]
    model, probabilities = _guesses_of_a_model_trained_on_the_labels(rows)
    labels = Counter(r["intent"] for r in _read(LABELS))
    for r, p in zip(rows, probabilities, strict=True):
        order = p.argsort()
        r["guess"], r["p"], r["margin"] = model.classes_[order[-1]], p[order[-1]], p[order[-1]] - p[order[-2]]
    rng = random.Random(seed)
    picked: dict[str, dict[str, str]] = {}
    # Intents with fewer than 400 real labels: up to 150 of the lines most likely to be one, chat lines first.
    for intent in sorted(i for i in model.classes_ if labels[i] < 400):
        candidates = sorted((r for r in rows if r["guess"] == intent), key=lambda r: -r["p"])
        for r in candidates[:150]:
            picked.setdefault(r["id"], {**r, "why": f"targeted:{intent}"})
    left = [r for r in rows if r["id"] not in picked]
    for r in sorted(left, key=lambda r: r["margin"])[: (total - len(picked)) // 2]:
        picked[r["id"]] = {**r, "why": "uncertain"}
    left = [r for r in left if r["id"] not in picked and not r["source"].startswith("QASC")]
    for r in rng.sample(left, total - len(picked)):  # buyer-to-buyer questions are already a fifth of the labels
        picked[r["id"]] = {**r, "why": "random"}
    out = list(picked.values())
    rng.shuffle(out)
    WORK.mkdir(parents=True, exist_ok=True)
    name = f"selection{round_no}.tsv"
    _write(WORK / name, ["id", "utterance", "source", "session", "why"], out)
    print(f"{len(out)} lines -> var/labelling/{name}", Counter(r["why"].split(":")[0] for r in out).most_common())
    print(Counter(r["source"] for r in out).most_common())


def remainder(round_no: int, qasc: int, seed: int) -> None:
    """The last round: every shop-chat line nobody has labelled yet (`remainder`), so each chat session is then
    labelled whole, plus a random sample of the buyer-to-buyer questions left, as many as keeps them at a
    third of all labels."""
    done = {r["id"] for r in _read(LABELS)}
    done |= {r["id"] for p in WORK.glob("selection*.tsv") for r in _read(p)}
    left: dict[str, dict[str, str]] = {}
    for r in read_pool():
        key = line_id(r["utterance"])
        if key not in done:
            left.setdefault(key, {**r, "id": key})
    rng = random.Random(seed)
    chat = [{**r, "why": "remainder"} for r in left.values() if not r["source"].startswith("QASC")]
    questions = [r for r in left.values() if r["source"].startswith("QASC")]
    rows = chat + [{**r, "why": "random"} for r in rng.sample(questions, min(qasc, len(questions)))]
    rng.shuffle(rows)
    name = f"selection{round_no}.tsv"
    _write(WORK / name, ["id", "utterance", "source", "session", "why"], rows)
    print(f"{len(rows)} lines -> var/labelling/{name}", Counter(r["why"] for r in rows).most_common())


def batches(selection: str, first: int, count: int, overlap: int, seed: int) -> None:
    """Split a selection into `count` batches; each also gets the next batch's first `overlap` lines, to be
    labelled a second time without seeing the first reader's labels. Appends to owners.tsv."""
    rows = _read(WORK / selection)
    if first == 1:
        random.Random(seed).shuffle(rows)  # the first round's selection is ordered by how it was chosen
    size = len(rows) // count
    parts = [rows[i * size : (i + 1) * size if i < count - 1 else len(rows)] for i in range(count)]
    owners = WORK / "owners.tsv"
    new = not owners.exists() or first == 1
    with owners.open("w" if new else "a", encoding="utf-8") as f:
        if new:
            f.write("id\towner\tsecond\n")
        for i, part in enumerate(parts):
            for k, r in enumerate(part):
                second = first + (i - 1) % count if k < overlap else 0  # the previous batch's reader
                f.write(f"{r['id']}\t{first + i}\t{second}\n")
    for i, part in enumerate(parts):
        lines = part + parts[(i + 1) % count][:overlap]
        random.Random(seed + i).shuffle(lines)
        _write(WORK / f"batch{first + i}.tsv", ["id", "text", "source"], [{**r, "text": r["utterance"]} for r in lines])
        print(f"batch{first + i}.tsv: {len(lines)} lines ({overlap} double-labelled)")


LABELS = ROOT / "data" / "real_buyers" / "labels.tsv"
AGREEMENT = ROOT / "data" / "real_buyers" / "agreement.tsv"
ADJUDICATED = ROOT / "data" / "real_buyers" / "adjudicated.tsv"


def _labels_of(n: int) -> dict[str, tuple[str, str, str]]:
    path = WORK / f"labels{n}.tsv"
    out = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            fields = line.split("\t") + ["", "", ""]
            if fields[0] and fields[0] != "id" and fields[1].strip():
                out[fields[0].strip()] = (fields[1].strip(), fields[2].strip(), fields[3].strip())
    return out


def merge() -> None:
    """Every reader's labelsN.tsv in var/labelling/ -> data/real_buyers/labels.tsv, and agreement.tsv for the
    double-labelled lines. Lines already in labels.tsv keep their label unless a work file labels them again,
    so a later round adds to the file without the earlier rounds' work files.

    A line's label is its batch owner's (owners.tsv; a line in no batch, such as the adjudicator's own
    additions, belongs to whoever labelled it); the second reader's label only measures agreement, and a
    disagreement takes the adjudicator's decision from adjudicated.tsv.
    """
    header = ["id", "text", "source", "session", "intent", "secondary", "note", "labelled_by", "checked", "chosen"]
    merged = {r["id"]: [r[c] for c in header] for r in _read(LABELS)} if LABELS.exists() else {}
    old_pairs = {r["id"]: r for r in _read(AGREEMENT)} if AGREEMENT.exists() else {}
    pool = {line_id(r["utterance"]): r for r in read_pool()}
    # Why each line was chosen: a random sample represents what buyers send; the test set is drawn from it.
    chosen = {r["id"]: r["why"] for p in WORK.glob("selection*.tsv") for r in _read(p)}
    owners_file = WORK / "owners.tsv"
    owners = {r["id"]: (int(r["owner"]), int(r["second"])) for r in _read(owners_file)} if owners_file.exists() else {}
    readers = sorted(int(p.stem.removeprefix("labels")) for p in WORK.glob("labels*.tsv"))
    labelled = {n: _labels_of(n) for n in readers}
    for n in readers:
        for key in labelled[n]:
            owners.setdefault(key, (n, 0))
    adjudicated = (
        {r["id"]: (r["intent"], r["secondary"], r["note"]) for r in _read(ADJUDICATED)} if ADJUDICATED.exists() else {}
    )
    pairs = {k: (r["text"], r["labeller_a"], r["intent_a"], r["labeller_b"], r["intent_b"]) for k, r in old_pairs.items()}
    for key, (owner, second) in owners.items():
        mine = labelled.get(owner, {}).get(key)
        if mine is None:
            continue
        r = pool[key]
        intent, secondary, note = mine
        checked = "single: read once"
        if second and (other := labelled.get(second, {}).get(key)):
            pairs[key] = (r["utterance"], f"L{owner}", mine[0], f"L{second}", other[0])
            if other[0] == intent:
                checked = f"double: L{second} independently agreed"
            elif key in adjudicated:
                intent, secondary, note = adjudicated[key]
                checked = f"double: L{owner} {mine[0]} / L{second} {other[0]}, adjudicated by a third reader"
            else:
                checked = f"double: L{owner} {mine[0]} / L{second} {other[0]}, not yet adjudicated"
        if secondary == intent or secondary in ("greet", "thank", "skip"):
            secondary = ""  # pleasantries never count as a second request
        why = chosen.get(key) or (merged[key][9] if key in merged else "targeted:color_difference")
        merged[key] = [key, r["utterance"], r["source"], r["session"], intent, secondary, note, f"L{owner}", checked, why]
    LABELS.parent.mkdir(parents=True, exist_ok=True)
    with LABELS.open("w", encoding="utf-8") as f:
        f.write("\t".join(header) + "\n")
        for row in merged.values():
            f.write("\t".join(x.replace("\t", " ") for x in row) + "\n")
    with AGREEMENT.open("w", encoding="utf-8") as f:
        f.write("id\ttext\tlabeller_a\tintent_a\tlabeller_b\tintent_b\n")
        for key, fields in pairs.items():
            f.write("\t".join([key, *fields]) + "\n")
    a = [p[2] for p in pairs.values()]
    b = [p[4] for p in pairs.values()]
    print(f"{len(merged)} labelled lines -> {LABELS.relative_to(ROOT)}")
    if pairs:
        agree = sum(x == y for x, y in zip(a, b, strict=True)) / len(pairs)
        print(f"double-labelled: {len(pairs)} lines, raw agreement {agree:.3f}, Cohen's kappa {cohen_kappa(a, b):.3f}")
    unsettled = sum(1 for row in merged.values() if "not yet adjudicated" in row[8])
    if unsettled:
        print(f"{unsettled} disagreements wait for the adjudicator (adjudicated.tsv)")
    print(Counter(row[4] for row in merged.values()).most_common())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("select")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--total", type=int, default=7200)
    sub.add_parser("targeted")
    sub.add_parser("uncertain")
    p = sub.add_parser("more")
    p.add_argument("--total", type=int, default=6000)
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--seed", type=int, default=44)
    p = sub.add_parser("batches")
    p.add_argument("selection")
    p.add_argument("--first", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--overlap", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p = sub.add_parser("remainder")
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--qasc", type=int, default=3300)
    p.add_argument("--seed", type=int, default=55)
    sub.add_parser("merge")
    args = parser.parse_args()
    if args.command == "select":
        select(args.model, args.total)
    elif args.command == "targeted":
        targeted()
    elif args.command == "uncertain":
        uncertain()
    elif args.command == "more":
        more(args.total, args.round, args.seed)
    elif args.command == "batches":
        batches(args.selection, args.first, args.count, args.overlap, args.seed)
    elif args.command == "remainder":
        remainder(args.round, args.qasc, args.seed)
    elif args.command == "merge":
        merge()


if __name__ == "__main__":
    main()
