"""Text to speech: real espeak-ng audio decoded and measured, gTTS with its HTTP intercepted (never the
network), the offline fallback, and the cache."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import responses
import soundfile

from backends.loudspeaker.audio import AudioError, decode, duration_of, encode
from backends.loudspeaker.tts import (
    Audio,
    AutoEngine,
    EspeakEngine,
    GTTSEngine,
    Speech,
    TTSUnavailable,
    make_engine,
    speakable,
)

GTTS_URL = "https://translate.google.com/_/TranslateWebserverUi/data/batchexecute"
TEXT = ("Thông báo của Ủy ban nhân dân xã La Bằng: sáng mai, từ bảy giờ đến mười một giờ, trạm y tế "
        "xã tổ chức tiêm vắc xin cho trẻ em dưới năm tuổi. Đề nghị các gia đình đưa trẻ đến đúng giờ.")


def sine_mp3(seconds: float = 1.0, rate: int = 24000) -> bytes:
    """A canned answer for the intercepted gTTS endpoint: a real MP3 of a tone."""
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    soundfile.write(buffer, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format="MP3",
                    subtype="MPEG_LAYER_III")
    return buffer.getvalue()


def gtts_body(mp3: bytes) -> str:
    payload = base64.b64encode(mp3).decode("ascii")
    return ')]}\'\n\n[["wrb.fr","jQ1olc","[\\"' + payload + '\\"]",null,null,null,"generic"]]'


def check_clip(data: bytes, container: str, low: float, high: float) -> float:
    info = soundfile.info(io.BytesIO(data))
    assert info.format == container
    samples, rate = decode(data)
    seconds = len(samples) / rate
    assert low <= seconds <= high, seconds
    assert float(np.abs(samples).max()) > 0.05  # speech, not silence
    return seconds


async def test_espeak_speaks_vietnamese_as_opus_and_mp3(tmp_path: Path) -> None:
    speech = Speech(EspeakEngine(), tmp_path / "cache")
    spoken = await speech.speak(TEXT, "vi")
    assert (spoken.engine, spoken.voice, spoken.cached) == ("espeak", "vi", False)
    assert spoken.ogg.startswith(b"OggS") and b"OpusHead" in spoken.ogg[:200]
    assert soundfile.info(io.BytesIO(spoken.ogg)).subtype == "OPUS"
    words = len(TEXT.split())
    # About 150 words a minute: 0.4 s to 0.8 s a word, in both encodings alike.
    ogg_seconds = check_clip(spoken.ogg, "OGG", words * 0.25, words * 0.8)
    mp3_seconds = check_clip(spoken.mp3, "MP3", words * 0.25, words * 0.8)
    assert abs(ogg_seconds - mp3_seconds) < 0.2
    assert abs(spoken.duration - ogg_seconds) < 0.05


async def test_the_cache_answers_the_second_time(tmp_path: Path) -> None:
    speech = Speech(EspeakEngine(), tmp_path / "cache")
    first = await speech.speak("Mất điện từ 8 giờ.", "vi")
    started = time.perf_counter()
    again = await speech.speak("Mất   điện từ 8 giờ.", "vi")  # the same once spaces are folded
    elapsed = time.perf_counter() - started
    assert again.cached and (again.ogg, again.mp3) == (first.ogg, first.mp3) and elapsed < 0.1
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1
    assert not (await speech.speak("Mất nước từ 8 giờ.", "vi")).cached
    # The key holds the engine and the voice: English words are another clip.
    key_vi = speech.cache_key("espeak", "vi", "hello")
    assert key_vi != speech.cache_key("espeak", "en", "hello") != speech.cache_key("gtts", "vi", "hello")


@responses.activate
async def test_gtts_through_intercepted_http(tmp_path: Path) -> None:
    responses.add(responses.POST, GTTS_URL, body=gtts_body(sine_mp3(1.0)))
    spoken = await Speech(GTTSEngine(), tmp_path / "cache").speak(TEXT, "vi")
    assert spoken.engine == "gtts" and spoken.voice == "vi"
    calls = len(responses.calls)
    assert calls >= 2  # gTTS sends one request per chunk of about 100 characters
    body = responses.calls[0].request.body
    assert "vi" in json.dumps(str(body))
    # Each chunk came back as one second of tone: the clip is their concatenation.
    assert abs(spoken.duration - calls) < 0.2
    check_clip(spoken.mp3, "MP3", calls - 0.2, calls + 0.2)


@responses.activate
async def test_gtts_failures_are_unavailable() -> None:
    responses.add(responses.POST, GTTS_URL, status=503)
    with pytest.raises(TTSUnavailable):
        await GTTSEngine().synthesize("xin chào", "vi")
    responses.replace(responses.POST, GTTS_URL, body=requests.exceptions.ConnectTimeout("timed out"))
    with pytest.raises(TTSUnavailable):
        await GTTSEngine().synthesize("xin chào", "vi")
    responses.replace(responses.POST, GTTS_URL, body="no audio in here")
    with pytest.raises(TTSUnavailable):
        await GTTSEngine().synthesize("xin chào", "vi")


@responses.activate
async def test_auto_falls_back_to_espeak_and_rests_the_online_engine(tmp_path: Path) -> None:
    responses.add(responses.POST, GTTS_URL, body=requests.exceptions.ConnectionError("offline"))
    clock = [100.0]
    auto = AutoEngine(GTTSEngine(), EspeakEngine(), cooldown=60.0, monotonic=lambda: clock[0])
    speech = Speech(auto, tmp_path / "cache")
    spoken = await speech.speak("Ngày mai có mưa lớn.", "vi")
    assert spoken.engine == "espeak" and spoken.duration > 0.5
    assert len(responses.calls) == 1
    await speech.speak("Chiều nay cắt điện.", "vi")
    assert len(responses.calls) == 1  # resting: straight to espeak-ng, no timeout to wait for
    clock[0] += 61
    responses.replace(responses.POST, GTTS_URL, body=gtts_body(sine_mp3(0.5)))
    online = await speech.speak("Sáng mai họp xóm.", "vi")
    assert online.engine == "gtts" and len(responses.calls) == 2
    # A clip already spoken offline is served from the cache, whoever would speak it now.
    assert (await speech.speak("Ngày mai có mưa lớn.", "vi")).cached


class SlowEngine:
    name = "slow"

    def voice(self, lang: str) -> str:
        return lang

    async def synthesize(self, text: str, lang: str) -> Audio:
        await asyncio.sleep(30)
        raise AssertionError("never reached")


async def test_auto_does_not_wait_for_a_slow_online_engine(tmp_path: Path) -> None:
    auto = AutoEngine(SlowEngine(), EspeakEngine(), deadline=0.2)
    started = time.perf_counter()
    spoken = await Speech(auto, tmp_path / "cache").speak("Trời sắp mưa to.", "vi")
    assert spoken.engine == "espeak" and time.perf_counter() - started < 10


async def test_missing_program_and_nothing_to_say(tmp_path: Path) -> None:
    with pytest.raises(TTSUnavailable):
        await EspeakEngine(program=str(tmp_path / "no-espeak")).synthesize("xin chào", "vi")
    with pytest.raises(TTSUnavailable):
        await Speech(EspeakEngine(), None).speak("📢 https://example.org 🔊", "vi")


def test_engine_choice_and_speakable_text() -> None:
    assert isinstance(make_engine("auto"), AutoEngine)
    assert isinstance(make_engine("gtts"), GTTSEngine)
    assert isinstance(make_engine("espeak"), EspeakEngine)
    assert speakable("📢 Xem  tại https://xa.vn/a?b=1 nhé 🙂\n") == "Xem tại nhé"
    assert speakable("Nhiệt độ 30°C, độ ẩm 80%") == "Nhiệt độ 30°C, độ ẩm 80%"


def test_encoder_refuses_what_is_not_audio() -> None:
    with pytest.raises(AudioError):
        encode(b"RIFF not really a wave")
    encoded = encode(sine_mp3(0.5, rate=22050))  # resampled to an Opus rate
    assert abs(duration_of(encoded.ogg) - 0.5) < 0.1 and abs(duration_of(encoded.mp3) - 0.5) < 0.1


async def test_a_warm_up_and_concurrent_requests_speak_once(tmp_path: Path) -> None:
    calls: list[str] = []

    class Counting(EspeakEngine):
        async def synthesize(self, text: str, lang: str) -> Audio:
            calls.append(text)
            return await super().synthesize(text, lang)

    speech = Speech(Counting(), tmp_path / "cache")
    speech.warm("Họp xóm lúc 8 giờ tối nay.")
    first, second = await asyncio.gather(speech.speak("Họp xóm lúc 8 giờ tối nay."),
                                         speech.speak("Họp  xóm lúc 8 giờ tối nay. "))
    assert calls == ["Họp xóm lúc 8 giờ tối nay."] and first.ogg == second.ogg
    speech.warm("📢")  # nothing to say: nothing started, nothing raised
    assert (await speech.speak("Họp xóm lúc 8 giờ tối nay.")).cached and len(calls) == 1
