"""A speech engine held back by the test: it speaks (with espeak-ng) only once `release` is set, or fails
then, so that a test can show what goes on while a voice is being made."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from backends.loudspeaker.tts import Audio, EspeakEngine, Speech, TTSUnavailable
from core.config import Settings


@dataclass
class HeldEngine:
    name: str = "espeak"
    fail: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    real: EspeakEngine = field(default_factory=EspeakEngine)

    def voice(self, lang: str) -> str:
        return self.real.voice(lang)

    async def synthesize(self, text: str, lang: str) -> Audio:
        self.started.set()
        await self.release.wait()
        if self.fail:
            raise TTSUnavailable("held engine told to fail")
        return await self.real.synthesize(text, lang)


def hold_speech(monkeypatch: pytest.MonkeyPatch, speech: Speech | None, *, fail: bool = False) -> HeldEngine:
    """`speech` speaks through a held engine, with no cache (every clip is made)."""
    assert speech is not None
    engine = HeldEngine(fail=fail)
    monkeypatch.setattr(speech, "engine", engine)
    monkeypatch.setattr(speech, "cache_dir", None)
    return engine


def speaking_settings(settings: Settings) -> Settings:
    """Offline speech (espeak-ng) and a rate limit that a test's bursts of messages stay under."""
    return settings.model_copy(update={"tts_engine": "espeak", "rate_limit_burst": 400,
                                       "rate_limit_per_minute": 1200})
