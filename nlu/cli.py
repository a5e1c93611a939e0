"""The bodies of ``xaso nlu parse | evaluate | train``; bots/cli.py parses arguments and calls these."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import StratifiedGroupKFold

from nlu.embedded import EmbeddedNLU, train_from_file
from nlu.engine import EMERGENCY, INTENTS, Entity, NLUEngine
from nlu.normalize import fold
from nlu.rasa_yaml import TrainingData, load_training_data
from nlu.rules import PHRASES_FILE, EmergencyRules

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
    report: dict[str, Any] = {
        "examples": len(gold),
        "accuracy": _ratio(sum(g == p for g, p in zip(gold, predicted, strict=True)), len(gold)),
        **_emergency_scores(gold, predicted),
        "intents": _intent_scores(gold, predicted),
        "confusions": _confusions(gold, predicted),
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


def _emergency_scores(gold: list[str], predicted: list[str]) -> dict[str, Any]:
    """What matters most: emergencies missed (recall) and everyday messages taken for one."""
    pairs = list(zip(gold, predicted, strict=True))
    emergencies = [p for g, p in pairs if g == EMERGENCY]
    return {
        "emergency_recall": _ratio(sum(p == EMERGENCY for p in emergencies), len(emergencies))
        if emergencies else None,
        "false_emergencies": sum(p == EMERGENCY and g != EMERGENCY for g, p in pairs),
    }


def _intent_scores(gold: list[str], predicted: list[str]) -> dict[str, dict[str, float | int]]:
    """Precision, recall, F1 and support per intent, inventory order first."""
    seen = set(gold) | set(predicted)
    labels = [i for i in INTENTS if i in seen] + sorted(seen - set(INTENTS))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, zero_division=0
    )
    return {
        label: {
            "precision": round(float(precision[i]), 4),
            "recall": round(float(recall[i]), 4),
            "f1": round(float(f1[i]), 4),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }


def _confusions(gold: list[str], predicted: list[str]) -> list[dict[str, Any]]:
    counts = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    return [{"expected": g, "predicted": p, "count": n} for (g, p), n in counts.most_common(TOP_CONFUSIONS)]


def _print_intents(report: dict[str, Any], out: TextIO) -> None:
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


def _print_emergency(report: dict[str, Any], out: TextIO) -> None:
    recall = report["emergency_recall"]
    out.write(f"emergency recall: {'n/a' if recall is None else f'{recall:.3f}'}\n"
              f"false emergencies: {report['false_emergencies']}\n\n")


def _print_report(report: dict[str, Any], out: TextIO) -> None:
    out.write(f"examples: {report['examples']}\naccuracy: {report['accuracy']:.3f}\n")
    _print_emergency(report, out)
    _print_intents(report, out)
    if "entities" in report:
        e = report["entities"]
        out.write(f"\nentities: precision {e['precision']:.3f} recall {e['recall']:.3f} f1 {e['f1']:.3f}\n")
    lat = report["latency_ms"]
    out.write(f"\nparse latency: p50 {lat['p50']:.3f} ms, p99 {lat['p99']:.3f} ms\n")
    out.flush()


# ---- cross-validation ------------------------------------------------------------------------


def run_cross_validation(nlu_yml: Path, folds: int, stdout: TextIO, *, seed: int = 0) -> dict[str, Any]:
    """K-fold cross-validation of the embedded engine on a Rasa YAML training file, by paraphrase group.

    Examples that say the same thing in other spelling (with and without diacritics, abbreviations, a
    word more or less) form one group (``paraphrase_groups``), and a group is never split between
    training and test: each fold is scored on wording its model has not seen in any form. Folds are
    stratified by intent. Emergency rules come from ``emergency_phrases.yml`` beside the file, or the
    built-in list. Accuracy is given per fold and as mean ± std; per-intent scores, emergency recall
    and false emergencies over all folds' predictions.
    """
    data = load_training_data(nlu_yml)
    _check_folds(data, folds)
    rules = EmergencyRules.load(nlu_yml.parent / PHRASES_FILE)
    gold = [example.intent for example in data.examples]
    groups = paraphrase_groups([example.text for example in data.examples], gold)
    predicted = [""] * len(gold)
    accuracies: list[float] = []
    started = time.perf_counter()
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_index, test_index in splitter.split(np.zeros(len(gold)), gold, groups):
        engine = _train_subset(data, train_index, rules)
        for i in test_index:
            predicted[i] = engine.parse(data.examples[i].text).intent
        accuracies.append(float(np.mean([predicted[i] == gold[i] for i in test_index])))
    report = _cv_report(gold, predicted, accuracies, time.perf_counter() - started)
    report["groups"] = len(set(groups))
    _print_cv_report(report, stdout)
    return report


PARAPHRASE_OVERLAP = 0.5


def paraphrase_groups(texts: list[str], intents: list[str]) -> list[int]:
    """A group number per text: texts of one intent whose diacritics-free words overlap by at least
    half (Jaccard) are paraphrases of each other, and so are the texts linked through them."""
    words = [frozenset(fold(text).split()) for text in texts]
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_intent: dict[str, list[int]] = {}
    for index, intent in enumerate(intents):
        by_intent.setdefault(intent, []).append(index)
    for members in by_intent.values():
        for position, i in enumerate(members):
            for j in members[position + 1:]:
                union = len(words[i] | words[j])
                if union and len(words[i] & words[j]) / union >= PARAPHRASE_OVERLAP:
                    parent[root(i)] = root(j)
    return [root(i) for i in range(len(texts))]


def _check_folds(data: TrainingData, folds: int) -> None:
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, not {folds}")
    counts = Counter(example.intent for example in data.examples)
    if len(counts) < 2:
        raise ValueError("cross-validation needs examples of at least two intents")
    small = sorted(intent for intent, n in counts.items() if n < folds)
    if small:
        raise ValueError(f"fewer than {folds} examples for: {', '.join(small)}")


def _train_subset(data: TrainingData, index: np.ndarray, rules: EmergencyRules) -> EmbeddedNLU:
    subset = replace(data, examples=tuple(data.examples[i] for i in index))
    return EmbeddedNLU.train(subset, rules=rules)


def _cv_report(
    gold: list[str], predicted: list[str], accuracies: list[float], seconds: float
) -> dict[str, Any]:
    return {
        "folds": len(accuracies),
        "examples": len(gold),
        "accuracy": {
            "mean": round(float(np.mean(accuracies)), 4),
            "std": round(float(np.std(accuracies)), 4),
            "per_fold": [round(a, 4) for a in accuracies],
        },
        **_emergency_scores(gold, predicted),
        "intents": _intent_scores(gold, predicted),
        "confusions": _confusions(gold, predicted),
        "seconds": round(seconds, 2),
    }


def _print_cv_report(report: dict[str, Any], out: TextIO) -> None:
    acc = report["accuracy"]
    folds = ", ".join(f"{a:.3f}" for a in acc["per_fold"])
    out.write(
        f"{report['folds']}-fold cross-validation by paraphrase group on {report['examples']} examples "
        f"in {report.get('groups', report['examples'])} groups ({report['seconds']:.1f} s)\n"
        f"accuracy: {acc['mean']:.3f} ± {acc['std']:.3f}  (folds: {folds})\n"
    )
    _print_emergency(report, out)
    _print_intents(report, out)
    out.flush()
