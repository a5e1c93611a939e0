"""Embedded NLU benchmark: training time, model size, memory, parse latency, held-out quality.

    .venv/bin/python -m bench.nlu            # a short report
    .venv/bin/python -m bench.nlu --json     # one JSON object

Parse latency is measured on one core (the process is pinned to CPU 0 where the OS allows it) over
the held-out set (tests/nlu/data/heldout.tsv) repeated to at least ``--parses`` parses, after one
warm-up pass. Resident memory is measured in a fresh interpreter: after importing the NLU, and
after loading the saved model, so the difference is what the model itself costs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nlu.cli import LabelledText, load_labelled
from nlu.embedded import EmbeddedNLU, train_from_file
from nlu.engine import EMERGENCY
from nlu.rasa_yaml import load_training_data
from nlu.rules import PHRASES_FILE, EmergencyRules

ROOT = Path(__file__).resolve().parent.parent
NLU_YML = ROOT / "data" / "nlu.yml"
HELDOUT = ROOT / "tests" / "nlu" / "data" / "heldout.tsv"
TRAININGS = 3

_RSS_PROBE = """
import json, sys
from pathlib import Path
def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from nlu.embedded import EmbeddedNLU
before = rss()
EmbeddedNLU.load(Path(sys.argv[1]))
print(json.dumps({"before": before, "after": rss()}))
"""


def pin_to_one_core() -> bool:
    """Pin this process to CPU 0; False where the OS has no affinity call."""
    if not hasattr(os, "sched_setaffinity"):
        return False
    os.sched_setaffinity(0, {0})
    return True


def time_training(nlu_yml: Path, runs: int) -> tuple[float, EmbeddedNLU]:
    """Median wall time of ``runs`` trainings (seconds) and the last engine trained."""
    timings: list[float] = []
    engine: EmbeddedNLU | None = None
    for _ in range(runs):
        started = time.perf_counter()
        engine = train_from_file(nlu_yml)
        timings.append(time.perf_counter() - started)
    assert engine is not None
    return statistics.median(timings), engine


def load_time_and_rss(model: Path) -> dict[str, float]:
    started = time.perf_counter()
    EmbeddedNLU.load(model, rules=EmergencyRules.load(NLU_YML.parent / PHRASES_FILE))
    load_ms = (time.perf_counter() - started) * 1000
    probe = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(model)], capture_output=True, text=True, check=True, cwd=ROOT
    )
    rss = json.loads(probe.stdout)
    return {"load_ms": load_ms, "rss_mb": rss["after"], "rss_model_mb": rss["after"] - rss["before"]}


def parse_latencies(engine: EmbeddedNLU, texts: list[str], parses: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds per parse, over ``texts`` repeated to at least ``parses`` calls.

    On a shared machine the wall clock also counts the time other processes held the core; the
    thread's CPU time does not, so the two together tell contention from slowness.
    """
    for text in texts:  # warm-up
        engine.parse(text)
    rounds = -(-parses // len(texts))
    wall: list[float] = []
    cpu: list[float] = []
    wall_clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    for _ in range(rounds):
        for text in texts:
            started, started_cpu = wall_clock(), cpu_clock()
            engine.parse(text)
            cpu.append((cpu_clock() - started_cpu) / 1e6)
            wall.append((wall_clock() - started) / 1e6)
    return wall, cpu


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def quality(engine: EmbeddedNLU, items: list[LabelledText]) -> dict[str, float]:
    predicted = [engine.parse(item.text).intent for item in items]
    hits = [p == item.intent for p, item in zip(predicted, items, strict=True)]
    emergency = [hit for hit, item in zip(hits, items, strict=True) if item.intent == EMERGENCY]
    return {
        "heldout_examples": len(items),
        "heldout_accuracy": sum(hits) / len(hits),
        "emergency_recall": sum(emergency) / len(emergency) if emergency else float("nan"),
    }


def run(parses: int) -> dict[str, Any]:
    pinned = pin_to_one_core()
    items = load_labelled(HELDOUT)
    train_s, engine = time_training(NLU_YML, TRAININGS)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "nlu.joblib"
        engine.save(model)
        size_kb = model.stat().st_size / 1024
        memory = load_time_and_rss(model)
    latencies, cpu = parse_latencies(engine, [item.text for item in items], parses)
    return {
        "pinned_to_one_core": pinned,
        "training_examples": len(load_training_data(NLU_YML).examples),
        "intents": len(engine.intents),
        "train_s": round(train_s, 3),
        "model_kb": round(size_kb, 1),
        "load_ms": round(memory["load_ms"], 1),
        "rss_mb": round(memory["rss_mb"], 1),
        "rss_model_mb": round(memory["rss_model_mb"], 1),
        "parses": len(latencies),
        "parse_p50_ms": round(percentile(latencies, 50), 3),
        "parse_p99_ms": round(percentile(latencies, 99), 3),
        "parse_mean_ms": round(statistics.fmean(latencies), 3),
        "parse_cpu_p50_ms": round(percentile(cpu, 50), 3),
        "parse_cpu_p99_ms": round(percentile(cpu, 99), 3),
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in quality(engine, items).items()},
    }


def print_report(r: dict[str, Any]) -> None:
    core = "one core (CPU 0)" if r["pinned_to_one_core"] else "unpinned"
    print(
        f"training: {r['train_s']:.2f} s for {r['training_examples']} examples, {r['intents']} intents "
        f"(median of {TRAININGS})\n"
        f"model: {r['model_kb']:.0f} KB on disk, loads in {r['load_ms']:.0f} ms\n"
        f"memory: RSS {r['rss_mb']:.1f} MB after loading ({r['rss_model_mb']:.1f} MB for the model)\n"
        f"parse ({core}, {r['parses']} parses): p50 {r['parse_p50_ms']:.3f} ms, "
        f"p99 {r['parse_p99_ms']:.3f} ms, mean {r['parse_mean_ms']:.3f} ms; "
        f"CPU time p50 {r['parse_cpu_p50_ms']:.3f} ms, p99 {r['parse_cpu_p99_ms']:.3f} ms "
        f"(load average {r['load_average']})\n"
        f"held-out ({r['heldout_examples']} examples): accuracy {r['heldout_accuracy']:.3f}, "
        f"emergency recall {r['emergency_recall']:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--parses", type=int, default=5000, help="at least this many timed parses")
    args = parser.parse_args(argv)
    result = run(max(args.parses, 1))
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
