"""Which NLU pipeline understands real buyers best: train each candidate, score it on the real-buyer test set.

    ./shop compare-pipelines            # every candidate (about 15 min on 2 cores)
    ./shop compare-pipelines diet ngram  # some of them

Each candidate is config.yml with its intent classifier swapped, trained on the same data (rules aside)
and scored on tests/nlu/real_buyers_test.yml (the headline) and tests/nlu/test_nlu.yml (the self-written
regression set). A fallback threshold is chosen for each from its own precision/coverage curve on the
real-buyer set (bot.trainer.evaluation.best_threshold), and the figures are given at that threshold.
Writes results/pipelines.md and results/pipelines.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.trainer.evaluation import (  # noqa: E402
    CORE_INTENTS,
    FALLBACK,
    REAL_TEST_SET,
    TEST_SET,
    best_threshold,
    nlu_examples,
    parse_all,
    peer,
    score,
    training_examples,
)
from bot.training import data_paths  # noqa: E402

BASE = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
CLASSIFIERS = {
    "DIETClassifier",
    "bot.nlu.ngram_classifier.NgramIntentClassifier",
    "bot.nlu.domain_embeddings.DomainEmbeddingFeaturizer",
}

DIET_TODAY = {
    "name": "DIETClassifier", "epochs": 100, "number_of_transformer_layers": 0,
    "hidden_layers_sizes": {"text": [256, 128]}, "entity_recognition": False,
    "constrain_similarities": True, "random_seed": 7,
}  # fmt: skip
# Fewer epochs, dropout on inputs and layers, sparse connections: less memorising of the training lines.
DIET_REGULARISED = {
    **DIET_TODAY, "epochs": 40, "drop_rate": 0.4, "connection_density": 0.3,
    "hidden_layers_sizes": {"text": [128]}, "regularization_constant": 0.005,
}  # fmt: skip
DIET_ONE_LAYER = {
    **DIET_REGULARISED, "number_of_transformer_layers": 1, "transformer_size": 128,
    "drop_rate_attention": 0.1, "epochs": 30,
}  # fmt: skip
NGRAM = {"name": "bot.nlu.ngram_classifier.NgramIntentClassifier"}
EMBEDDINGS = {
    "name": "bot.nlu.domain_embeddings.DomainEmbeddingFeaturizer",
    "corpus_files": ["data/real_buyers/unlabelled.txt"],
}

# Today's featurizers over the real lines' vocabulary make DIET's first layer ~25M weights (20 s an epoch
# on 2 cores, 33 min for 100 epochs: measured). The regularised variants cap the vocabularies.
CAPPED = {"word": {"min_df": 2, "max_features": 8000}, "char": {"min_df": 2, "max_features": 20000}}

CANDIDATES: dict[str, tuple[str, list[dict[str, Any]], bool, dict[str, dict[str, Any]]]] = {
    # name: (what it is, classifiers in order, trained with the real-buyer examples, featurizer changes)
    "today": ("today's pipeline, hand-written data only", [DIET_TODAY], False, {}),
    "diet": ("DIET regularised (dropout, 40 epochs, capped features, 0 layers)", [DIET_REGULARISED], True, CAPPED),
    "diet-1layer": ("DIET regularised, 1 transformer layer", [DIET_ONE_LAYER], True, CAPPED),
    "ngram": ("char n-gram TF-IDF + logistic regression component", [NGRAM], True, {}),
    "diet-emb": ("DIET regularised + pool-trained character embeddings", [EMBEDDINGS, DIET_REGULARISED], True, CAPPED),
    "ngram-emb": (
        "n-gram classifier + pool-trained character embeddings",
        [EMBEDDINGS, {**NGRAM, "dense_weight": 0.5}],
        True,
        {},
    ),
    "ensemble": (
        "DIET regularised + n-gram classifier, blended",
        [DIET_REGULARISED, {**NGRAM, "blend": 0.3}],
        True,
        CAPPED,
    ),
}


def config_for(classifiers: list[dict[str, Any]], featurizers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    config = copy.deepcopy(BASE)
    for component in config["pipeline"]:
        if component["name"] == "CountVectorsFeaturizer":
            component.update(featurizers.get("char" if component.get("analyzer") == "char" else "word", {}))
    pipeline = [c for c in config["pipeline"] if c["name"] not in CLASSIFIERS]
    at = next(i for i, c in enumerate(pipeline) if c["name"] == "RegexEntityExtractor")
    pipeline[at:at] = copy.deepcopy(classifiers)
    for component in pipeline:
        if component["name"] == "FallbackClassifier":
            component["threshold"], component["ambiguity_threshold"] = 0.0, 0.0  # raw guesses; threshold chosen below
    config["pipeline"] = pipeline
    config.pop("policies", None)
    return config


def _at_threshold(name: str, examples: list[tuple[str, str]], parses: list[dict[str, Any]], threshold: float) -> Any:
    raw = []
    for parsed in parses:
        ranking = [r for r in parsed.get("intent_ranking") or [] if r.get("name") != FALLBACK]
        raw.append((ranking[0]["name"], float(ranking[0]["confidence"])) if ranking else (FALLBACK, 0.0))
    guess = [g if c >= threshold else FALLBACK for g, c in raw]
    return score(name, [i for i, _ in examples], guess, [c for _, c in raw], [t for _, t in examples], raw)


def run(name: str, workdir: Path) -> dict[str, Any]:
    from rasa.core.agent import Agent

    what, classifiers, real, featurizers = CANDIDATES[name]
    config = workdir / f"{name}.yml"
    config.write_text(yaml.safe_dump(config_for(classifiers, featurizers), allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "SHOP_REAL_BUYERS": "1" if real else "0"}
    # `rasa train nlu --nlu` takes one path: a folder with this candidate's NLU files.
    nlu = workdir / f"nlu-{name}"
    nlu.mkdir()
    for n, path in enumerate(p for p in data_paths() if p.parent.name != "data" and (real or p.parent.name != "real")):
        (nlu / f"{n:02d}-{path.name}").symlink_to(path)
    print(f"[{name}] training: {what} …", flush=True)
    started = time.monotonic()
    command = [sys.executable, "-m", "rasa", "train", "nlu", "-c", str(config), "--nlu", str(nlu),
               "--out", str(workdir), "--fixed-model-name", name]  # fmt: skip
    log = workdir / f"{name}.log"
    with log.open("w") as out:
        result = subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise SystemExit(f"[{name}] training failed, see {log}")
    training_s = time.monotonic() - started
    agent = Agent.load(str(workdir / f"{name}.tar.gz"))
    real_examples, self_examples = nlu_examples(REAL_TEST_SET), nlu_examples(TEST_SET)
    texts = [t for _, t in real_examples]
    parse_all(agent, texts[:50])  # warm up
    timings = []
    for text in texts[:400]:
        t0 = time.perf_counter()
        parse_all(agent, [text])
        timings.append((time.perf_counter() - t0) * 1000)
    real_parses = parse_all(agent, texts)
    self_parses = parse_all(agent, [t for _, t in self_examples])
    raw_real = _at_threshold(name, real_examples, real_parses, 0.0)
    threshold = best_threshold(raw_real.curve)[0]
    on_real = _at_threshold(name, real_examples, real_parses, threshold)
    on_self = _at_threshold(name, self_examples, self_parses, threshold)
    row = {
        "name": name,
        "what": what,
        "threshold": threshold,
        "top1": raw_real.accuracy,  # right intent first, whatever the confidence
        "curve": raw_real.curve,  # (threshold, coverage, precision): the figures at any other threshold
        "accuracy": on_real.accuracy,
        "macro_f1": on_real.macro_f1,
        "core_f1": {i: on_real.f1(i) for i in CORE_INTENTS},
        "wrong_rate": on_real.wrong_rate,
        "fallback_rate": on_real.fallback_rate,
        "self_accuracy": on_self.accuracy,
        "training_s": training_s,
        "ms_p50": statistics.median(timings),
        "ms_p95": sorted(timings)[int(0.95 * len(timings))],
    }
    print(f"[{name}] real accuracy {row['accuracy']:.3f}, macro-F1 {row['macro_f1']:.3f} (threshold {threshold:.2f})")
    return row


def peer_row() -> dict[str, Any]:
    started = time.monotonic()
    real, on_self = peer([REAL_TEST_SET, TEST_SET], training_examples())
    training_s = time.monotonic() - started
    return {
        "name": "peer", "what": "plain TF-IDF (char 1-3) + logistic regression, no fallback", "threshold": 0.0,
        "top1": real.accuracy, "accuracy": real.accuracy, "macro_f1": real.macro_f1, "core_f1": {i: real.f1(i) for i in CORE_INTENTS},
        "wrong_rate": real.wrong_rate, "fallback_rate": real.fallback_rate, "self_accuracy": on_self.accuracy,
        "training_s": training_s, "ms_p50": None, "ms_p95": None,
    }  # fmt: skip


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| pipeline | top-1 | accuracy | macro-F1 | core F1 (auth / bargain / ship / colour / refund) | wrong answers "
        "| fallbacks | threshold | self-written acc. | training s | ms/msg p50 / p95 |\n"
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for r in rows:
        core = " / ".join(f"{r['core_f1'][i]:.2f}" for i in CORE_INTENTS)
        ms = f"{r['ms_p50']:.1f} / {r['ms_p95']:.1f}" if r["ms_p50"] is not None else "–"
        lines.append(
            f"| {r['name']}: {r['what']} | {r['top1']:.3f} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | {core} | {r['wrong_rate']:.1%} "
            f"| {r['fallback_rate']:.1%} | {r['threshold']:.2f} | {r['self_accuracy']:.3f} | {r['training_s']:.0f} | {ms} |"
        )
    return head + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"candidates to run (default: all of {', '.join(CANDIDATES)})")
    parser.add_argument("--merge", action="store_true", help="add to / replace rows in results/pipelines.json")
    args = parser.parse_args()
    if unknown := set(args.names) - set(CANDIDATES):
        parser.error(f"unknown candidates {', '.join(sorted(unknown))}; known: {', '.join(CANDIDATES)}")
    names = args.names or list(CANDIDATES)
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    rows = json.loads((out / "pipelines.json").read_text(encoding="utf-8")) if args.merge else [peer_row()]
    with tempfile.TemporaryDirectory(prefix="pipelines-") as tmp:
        for name in names:
            row = run(name, Path(tmp))
            rows = [r for r in rows if r["name"] != name] + [row]
    (out / "pipelines.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "pipelines.md").write_text(table(rows), encoding="utf-8")
    print("\n" + table(rows))


if __name__ == "__main__":
    main()
