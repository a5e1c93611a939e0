"""The bodies of ``xaso nlu parse | evaluate | train``; bots/cli.py parses arguments and calls these."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from nlu.embedded import train_from_file
from nlu.engine import INTENTS, Entity, NLUEngine
from nlu.rasa_yaml import load_training_data

TOP_CONFUSIONS = 10


@dataclass(frozen=True, slots=True)
class LabelledText:
    intent: str
    text: str
    entities: tuple[Entity, ...] | None = None  # None: the file does not annotate entities


def run_parse(engine: NLUEngine, stdin: TextIO, stdout: TextIO) -> None:
    """One utterance per input line → one JSON object per output line; blank lines are skipped."""
    for line in stdin:
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        stdout.write(json.dumps(engine.parse(text).to_json(), ensure_ascii=False) + "\n")
        stdout.flush()


def run_train(nlu_yml: Path, model_path: Path, stdout: TextIO) -> None:
    started = time.perf_counter()
    engine = train_from_file(nlu_yml)
    engine.save(model_path)
    examples = len(load_training_data(nlu_yml).examples)
    elapsed = time.perf_counter() - started
    stdout.write(
        f"trained on {examples} examples, {len(engine.intents)} intents, in {elapsed:.1f} s\n"
        f"model: {model_path}\n"
    )
    stdout.flush()


def run_evaluate(engine: NLUEngine, path: Path, stdout: TextIO) -> dict[str, Any]:
    """Score ``engine`` on a TSV (``intent<TAB>text``, header line) or Rasa YAML file."""
    items = load_labelled(path)
    if not items:
        raise ValueError(f"{path}: no examples")
    predicted: list[str] = []
    latencies: list[float] = []
    entity_counts = Counter[str]()
    for item in items:
        started = time.perf_counter()
        result = engine.parse(item.text)
        latencies.append((time.perf_counter() - started) * 1000)
        predicted.append(result.intent)
        if item.entities is not None:
            entity_counts.update(_entity_outcome(item.entities, result.entities))
    report = _report([item.intent for item in items], predicted, latencies, entity_counts)
    _print_report(report, stdout)
    return report


def load_labelled(path: Path) -> list[LabelledText]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yml", ".yaml") or text.lstrip().startswith(("version:", "nlu:")):
        data = load_training_data(path)
        return [LabelledText(e.intent, e.text, e.entities) for e in data.examples]
    return _parse_tsv(text, path)


def _parse_tsv(text: str, path: Path) -> list[LabelledText]:
    rows: list[LabelledText] = []
    lines = text.splitlines()
    for number, line in enumerate(lines[1:], start=2):  # line 1 is the header
        if not line.strip():
            continue
        intent, tab, utterance = line.partition("\t")
        if not tab or not intent.strip() or not utterance.strip():
            raise ValueError(f"{path}:{number}: expected 'intent<TAB>text', got {line!r}")
        rows.append(LabelledText(intent.strip(), utterance.strip()))
    return rows


def _entity_outcome(gold: tuple[Entity, ...], found: tuple[Entity, ...]) -> Counter[str]:
    """True/false positives and false negatives on (type, span); values differ by synonym mapping."""
    gold_spans = {(e.entity, e.start, e.end) for e in gold}
    found_spans = {(e.entity, e.start, e.end) for e in found}
    return Counter(
        tp=len(gold_spans & found_spans), fp=len(found_spans - gold_spans), fn=len(gold_spans - found_spans)
    )


def _ratio(a: float, b: float) -> float:
    return round(a / b, 4) if b else 0.0


def _report(
    gold: list[str], predicted: list[str], latencies: list[float], entity_counts: Counter[str]
) -> dict[str, Any]:
    seen = set(gold) | set(predicted)
    labels = [i for i in INTENTS if i in seen] + sorted(seen - set(INTENTS))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, zero_division=0
    )
    confusions = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    report: dict[str, Any] = {
        "examples": len(gold),
        "accuracy": _ratio(sum(g == p for g, p in zip(gold, predicted, strict=True)), len(gold)),
        "intents": {
            label: {
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "f1": round(float(f1[i]), 4),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusions": [
            {"expected": g, "predicted": p, "count": n}
            for (g, p), n in confusions.most_common(TOP_CONFUSIONS)
        ],
        "latency_ms": {
            "p50": round(float(np.percentile(latencies, 50)), 3),
            "p99": round(float(np.percentile(latencies, 99)), 3),
        },
    }
    if entity_counts:
        tp, fp, fn = entity_counts["tp"], entity_counts["fp"], entity_counts["fn"]
        report["entities"] = {
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        }
    return report


def _print_report(report: dict[str, Any], out: TextIO) -> None:
    out.write(f"examples: {report['examples']}\naccuracy: {report['accuracy']:.3f}\n\n")
    out.write(f"{'intent':<24}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}\n")
    for label, s in report["intents"].items():
        out.write(
            f"{label:<24}{s['precision']:>10.3f}{s['recall']:>10.3f}{s['f1']:>10.3f}{s['support']:>9}\n"
        )
    out.write("\nconfusions (expected → predicted):\n")
    for c in report["confusions"]:
        out.write(f"  {c['count']:>4}  {c['expected']} → {c['predicted']}\n")
    if not report["confusions"]:
        out.write("  (none)\n")
    if "entities" in report:
        e = report["entities"]
        out.write(f"\nentities: precision {e['precision']:.3f} recall {e['recall']:.3f} f1 {e['f1']:.3f}\n")
    lat = report["latency_ms"]
    out.write(f"\nparse latency: p50 {lat['p50']:.3f} ms, p99 {lat['p99']:.3f} ms\n")
    out.flush()
