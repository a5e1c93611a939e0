"""Text-to-speech benchmark: seconds of synthesis per 100 words, and the cache hit.

    .venv/bin/python -m bench.tts            # a short report
    .venv/bin/python -m bench.tts --json     # one JSON object

espeak-ng (offline) is measured for real: synthesis alone, then synthesis plus both encodings
(OGG/Opus and MP3) as the service does it, on Vietnamese announcements of 25, 100 and 400 words, each
with a fresh cache. The cache hit is the same `Speech.speak` call a second time. gTTS needs Google's
servers: timing it against a fake endpoint would measure the fake, so it is only run with `--gtts`
on a machine with internet access (it then makes real requests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from backends.loudspeaker.tts import EspeakEngine, GTTSEngine, Speech, TTSEngine

SENTENCES = (
    "Ủy ban nhân dân xã La Bằng thông báo lịch tiêm vắc xin sởi cho trẻ em dưới năm tuổi tại trạm y tế xã.",
    "Đề nghị các gia đình mang theo sổ tiêm chủng và đưa trẻ đến đúng giờ để tránh chờ đợi.",
    "Ngày mai điện lực Đại Từ cắt điện từ bảy giờ sáng đến năm giờ chiều để sửa chữa đường dây.",
    "Bà con xóm Kèm và xóm Rừng Vần chủ động sắp xếp công việc và bảo quản thực phẩm.",
    "Dự báo đêm nay có mưa to, nguy cơ sạt lở đất ở các sườn đồi, không đi qua suối khi nước lên.",
)
SIZES = (25, 100, 400)
REPEATS = 3


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its finished children (espeak-ng)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def text_of(words: int) -> str:
    pool = " ".join(SENTENCES).split()
    out = [pool[index % len(pool)] for index in range(words)]
    return " ".join(out)


async def measure(engine: TTSEngine, words: int) -> dict[str, Any]:
    text = text_of(words)
    synth, full, synth_cpu, full_cpu, hits, audio = [], [], [], [], [], 0.0
    for _ in range(REPEATS):
        started, cpu = time.perf_counter(), cpu_seconds()
        await engine.synthesize(text, "vi")
        synth.append(time.perf_counter() - started)
        synth_cpu.append(cpu_seconds() - cpu)
        with tempfile.TemporaryDirectory() as folder:
            speech = Speech(engine, Path(folder))
            started, cpu = time.perf_counter(), cpu_seconds()
            spoken = await speech.speak(text, "vi")
            full.append(time.perf_counter() - started)
            full_cpu.append(cpu_seconds() - cpu)
            audio = spoken.duration
            started = time.perf_counter()
            again = await speech.speak(text, "vi")
            hits.append(time.perf_counter() - started)
            assert again.cached
    per_100 = 100 / words
    return {
        "engine": engine.name, "words": words, "audio_seconds": round(audio, 1),
        "synthesis_s_per_100_words": round(statistics.median(synth) * per_100, 3),
        "synthesis_cpu_s_per_100_words": round(statistics.median(synth_cpu) * per_100, 3),
        "with_encoding_s_per_100_words": round(statistics.median(full) * per_100, 3),
        "with_encoding_cpu_s_per_100_words": round(statistics.median(full_cpu) * per_100, 3),
        "cache_hit_ms": round(statistics.median(hits) * 1000, 2),
        "realtime_factor": round(statistics.median(full) / audio, 3) if audio else None,
    }


async def run(include_gtts: bool) -> dict[str, Any]:
    engines: list[TTSEngine] = [EspeakEngine()]
    if include_gtts:
        engines.append(GTTSEngine())
    rows = [await measure(engine, words) for engine in engines for words in SIZES]
    return {"repeats": REPEATS, "results": rows,
            "gtts": "measured" if include_gtts else "not measured: needs Google's servers (run with --gtts)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--gtts", action="store_true", help="also time gTTS (real requests to Google)")
    args = parser.parse_args()
    report = asyncio.run(run(args.gtts))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return
    print("engine  words  audio s  synth s/100w (CPU)  +encode s/100w (CPU)  cache hit ms  real-time factor")
    for row in report["results"]:
        synth = f"{row['synthesis_s_per_100_words']} ({row['synthesis_cpu_s_per_100_words']})"
        full = f"{row['with_encoding_s_per_100_words']} ({row['with_encoding_cpu_s_per_100_words']})"
        print(f"{row['engine']:<7} {row['words']:>5}  {row['audio_seconds']:>7}  {synth:>18}  {full:>20}  "
              f"{row['cache_hit_ms']:>12}  {row['realtime_factor']:>16}")
    print(f"gTTS: {report['gtts']}")


if __name__ == "__main__":
    main()
