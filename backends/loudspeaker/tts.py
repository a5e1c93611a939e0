"""Text to speech (PROTOCOLS.md): gTTS online, espeak-ng offline, `auto` falling back from the first to
the second, and a disk cache keyed by (engine, voice, text) so that nothing is synthesised twice.

Synthesis never runs on the event loop: gTTS (blocking `requests`) and the encoders run in a thread,
espeak-ng in a subprocess. Every clip comes out twice: OGG/Opus (Telegram voice) and MP3 (speakers, web).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import shutil
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from backends.loudspeaker.audio import AudioError, Encoded, decode, join_clips, to_mp3, to_ogg

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 3000
GTTS_TIMEOUT = 8.0  # seconds per request to Google; past it `auto` speaks with espeak-ng
GTTS_DEADLINE = 15.0  # seconds for a whole text; a slow Google is as good as none
GTTS_COOLDOWN = 300.0  # after a failure, `auto` goes straight to espeak-ng for this long
ESPEAK_TIMEOUT = 60.0
ESPEAK_SPEED = 150  # words per minute; espeak's 175 is fast for elderly listeners
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


class TTSUnavailable(RuntimeError):
    """The engine cannot speak now (no network, timeout, missing program, unreadable output)."""


@dataclass(frozen=True, slots=True)
class Audio:
    """One engine's raw output: WAV from espeak-ng, MP3 from gTTS."""

    data: bytes
    content_type: str
    engine: str
    voice: str


class TTSEngine(Protocol):
    name: str

    def voice(self, lang: str) -> str: ...

    async def synthesize(self, text: str, lang: str) -> Audio: ...


def speakable(text: str) -> str:
    """What is worth reading aloud: NFC text without links, emoji and other pictographs."""
    text = _URL.sub(" ", unicodedata.normalize("NFC", text))
    kept = "".join(char if unicodedata.category(char)[0] != "S" or char in "%+=°" else " " for char in text)
    return _SPACES.sub(" ", kept).strip()[:MAX_TEXT_CHARS]


class GTTSEngine:
    """Google Translate's voice through gTTS (`requests` under the hood): online only."""

    name = "gtts"
    LANGS: ClassVar[dict[str, str]] = {"vi": "vi", "en": "en"}

    def __init__(self, timeout: float = GTTS_TIMEOUT) -> None:
        self.timeout = timeout

    def voice(self, lang: str) -> str:
        return self.LANGS.get(lang, "vi")

    async def synthesize(self, text: str, lang: str) -> Audio:
        voice = self.voice(lang)
        data = await asyncio.to_thread(self._fetch, text, voice)
        return Audio(data, "audio/wav", self.name, voice)

    def _fetch(self, text: str, voice: str) -> bytes:
        """One MP3 per chunk of text comes back; each is decoded on its own (an MP3's header may state
        its own length, so concatenated files would play as the first alone) and the speech joined."""
        from gtts import gTTS, gTTSError

        try:
            parts = list(gTTS(text, lang=voice, timeout=self.timeout).stream())
        except (gTTSError, OSError, ValueError, AssertionError) as problem:
            # requests' errors are OSErrors; gTTS raises AssertionError for text with nothing to say.
            raise TTSUnavailable(f"gTTS: {type(problem).__name__}") from None
        if not parts:
            raise TTSUnavailable("gTTS: empty answer")
        try:
            return join_clips(parts)
        except AudioError as problem:
            raise TTSUnavailable(f"gTTS: {problem}") from None


class EspeakEngine:
    """Debian's espeak-ng program: offline, robotic but clear Vietnamese."""

    name = "espeak"
    VOICES: ClassVar[dict[str, str]] = {"vi": "vi", "en": "en"}

    def __init__(self, program: str | None = None, speed: int = ESPEAK_SPEED,
                 timeout: float = ESPEAK_TIMEOUT) -> None:
        self.program = program or shutil.which("espeak-ng") or "/usr/bin/espeak-ng"
        self.speed = speed
        self.timeout = timeout

    def voice(self, lang: str) -> str:
        return self.VOICES.get(lang, "vi")

    async def synthesize(self, text: str, lang: str) -> Audio:
        voice = self.voice(lang)
        try:
            process = await asyncio.create_subprocess_exec(
                self.program, "-v", voice, "-s", str(self.speed), "--stdout", "--stdin",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
        except OSError as problem:
            raise TTSUnavailable(f"espeak-ng cannot run: {problem.strerror}") from None
        try:
            async with asyncio.timeout(self.timeout):
                out, err = await process.communicate(text.encode("utf-8"))
        except TimeoutError:
            process.kill()
            await process.wait()
            raise TTSUnavailable("espeak-ng timed out") from None
        if process.returncode != 0 or not out.startswith(b"RIFF"):
            raise TTSUnavailable(f"espeak-ng failed: {err.decode('utf-8', 'replace')[:200]}")
        return Audio(out, "audio/wav", self.name, voice)


class AutoEngine:
    """gTTS when Google answers, espeak-ng otherwise; after a failure the online engine rests for
    `cooldown` seconds so that an offline commune does not wait for a timeout on every clip."""

    name = "auto"

    def __init__(self, online: TTSEngine, offline: TTSEngine, cooldown: float = GTTS_COOLDOWN,
                 monotonic: Callable[[], float] = time.monotonic, deadline: float = GTTS_DEADLINE) -> None:
        self.online = online
        self.offline = offline
        self.cooldown = cooldown
        self.deadline = deadline  # for the whole text (gTTS makes one request per ~100 characters)
        self._monotonic = monotonic
        self._resting_until = 0.0

    def voice(self, lang: str) -> str:
        return self.online.voice(lang)

    def engines(self) -> tuple[TTSEngine, ...]:
        return (self.online, self.offline)

    async def synthesize(self, text: str, lang: str) -> Audio:
        if self._monotonic() >= self._resting_until:
            try:
                async with asyncio.timeout(self.deadline):
                    return await self.online.synthesize(text, lang)
            except (TTSUnavailable, TimeoutError) as problem:
                self._resting_until = self._monotonic() + self.cooldown
                reason = str(problem) or "online speech too slow"
                log.warning("%s; speaking with %s for the next %.0f s", reason, self.offline.name,
                            self.cooldown)
        return await self.offline.synthesize(text, lang)


def make_engine(choice: str) -> TTSEngine:
    """The engine for `XASO_TTS_ENGINE`: `gtts`, `espeak` or `auto`."""
    if choice == "gtts":
        return GTTSEngine()
    if choice == "espeak":
        return EspeakEngine()
    return AutoEngine(GTTSEngine(), EspeakEngine())


@dataclass(frozen=True, slots=True)
class Spoken:
    """A text ready to play: both encodings, how long it lasts, and who spoke it."""

    ogg: bytes
    mp3: bytes
    duration: float
    engine: str
    voice: str
    cached: bool = False


class Speech:
    """Speaks texts through an engine, keeping every clip in `cache_dir` (none: no cache)."""

    def __init__(self, engine: TTSEngine, cache_dir: Path | None) -> None:
        self.engine = engine
        self.cache_dir = cache_dir
        self._running: dict[tuple[str, str], asyncio.Task[Spoken]] = {}

    async def speak(self, text: str, lang: str = "vi") -> Spoken:
        """Raises TTSUnavailable when no engine can speak (or there is nothing to say). The same text
        asked for again while it is being spoken waits for that one synthesis."""
        spoken = speakable(text)
        if not spoken:
            raise TTSUnavailable("nothing to say")
        return await asyncio.shield(self._task(spoken, lang))

    def warm(self, text: str, lang: str = "vi") -> None:
        """Starts speaking `text` in the background (outside any transaction), so that a later `speak`
        finds it ready or nearly so."""
        spoken = speakable(text)
        if spoken:
            self._task(spoken, lang)

    def _task(self, spoken: str, lang: str) -> asyncio.Task[Spoken]:
        key = (spoken, lang)
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(self._speak(spoken, lang))
            self._running[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return task

    def _finished(self, key: tuple[str, str], task: asyncio.Task[Spoken]) -> None:
        self._running.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            log.info("speech failed: %s", task.exception())  # retrieved: a warm-up may have no reader

    async def _speak(self, spoken: str, lang: str) -> Spoken:
        engines = self.engine.engines() if isinstance(self.engine, AutoEngine) else (self.engine,)
        for engine in engines:
            hit = await asyncio.to_thread(self._read_cache, engine.name, engine.voice(lang), spoken)
            if hit is not None:
                return hit
        audio = await self.engine.synthesize(spoken, lang)
        try:
            samples, rate = await asyncio.to_thread(decode, audio.data)
        except AudioError as problem:
            raise TTSUnavailable(f"{audio.engine}: {problem}") from None
        # libsndfile lets go of the GIL: both encoders run at once, on two cores where there are two.
        mp3, (ogg, duration) = await asyncio.gather(asyncio.to_thread(to_mp3, samples, rate),
                                                    asyncio.to_thread(to_ogg, samples, rate))
        encoded = Encoded(ogg=ogg, mp3=mp3, duration=duration)
        await asyncio.to_thread(self._write_cache, audio, spoken, encoded)
        return Spoken(encoded.ogg, encoded.mp3, encoded.duration, audio.engine, audio.voice)

    def cache_key(self, engine: str, voice: str, text: str) -> str:
        return hashlib.sha256(f"{engine}\0{voice}\0{text}".encode()).hexdigest()

    def _read_cache(self, engine: str, voice: str, text: str) -> Spoken | None:
        if self.cache_dir is None:
            return None
        base = self.cache_dir / self.cache_key(engine, voice, text)
        try:
            meta = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
            return Spoken(base.with_suffix(".ogg").read_bytes(), base.with_suffix(".mp3").read_bytes(),
                          float(meta["duration"]), engine, voice, cached=True)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_cache(self, audio: Audio, text: str, encoded: Encoded) -> None:
        if self.cache_dir is None:
            return
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            base = self.cache_dir / self.cache_key(audio.engine, audio.voice, text)
            # The metadata last: a clip counts as cached only once both encodings are complete.
            for suffix, data in ((".ogg", encoded.ogg), (".mp3", encoded.mp3),
                                 (".json", json.dumps({"duration": encoded.duration}).encode())):
                partial = base.with_name(f"{base.name}{suffix}.{os.getpid()}.part")
                partial.write_bytes(data)
                partial.replace(base.with_suffix(suffix))
        except OSError:
            log.warning("cannot write the speech cache in %s", self.cache_dir, exc_info=True)
