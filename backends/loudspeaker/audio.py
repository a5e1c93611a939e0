"""Encoding synthesised speech for where it goes: OGG/Opus for Telegram voice notes, MP3 for the
loudspeakers and the web. libsndfile (the `soundfile` wheel) reads WAV and MP3 and writes both, so
nothing here needs the network or a system program."""

from __future__ import annotations

import io
from dataclasses import dataclass
from math import gcd

import numpy as np
import soundfile
from scipy.signal import resample_poly

OGG_TYPE = "audio/ogg"
MP3_TYPE = "audio/mpeg"
# Opus only runs at these rates; anything else is resampled to 24 kHz (plenty for speech).
OPUS_RATES = frozenset({8000, 12000, 16000, 24000, 48000})
OPUS_RATE = 24000


class AudioError(ValueError):
    """The synthesiser's output could not be read as audio."""


@dataclass(frozen=True, slots=True)
class Encoded:
    ogg: bytes  # OGG/Opus
    mp3: bytes  # MPEG-1/2 layer III
    duration: float  # seconds


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float32 samples and their rate, from WAV, MP3, OGG or anything libsndfile reads."""
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as problem:
        raise AudioError(f"unreadable audio: {problem}") from None
    if samples.shape[0] == 0:
        raise AudioError("no audio")
    return samples.mean(axis=1).astype(np.float32), int(rate)


def duration_of(data: bytes) -> float:
    samples, rate = decode(data)
    return len(samples) / rate


def join_clips(clips: list[bytes]) -> bytes:
    """Several clips one after the other, as one 16-bit WAV at the first one's rate."""
    decoded = [decode(clip) for clip in clips]
    rate = decoded[0][1]
    pieces = [_resample(samples, from_rate, rate) for samples, from_rate in decoded]
    return _write(np.concatenate(pieces), rate, "WAV", "PCM_16")


def _resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return samples
    common = gcd(from_rate, to_rate)
    return resample_poly(samples, to_rate // common, from_rate // common).astype(np.float32)


def encode(data: bytes) -> Encoded:
    """Both encodings of one synthesised clip (CPU-bound: call it in a thread)."""
    samples, rate = decode(data)
    ogg, duration = to_ogg(samples, rate)
    return Encoded(ogg=ogg, mp3=to_mp3(samples, rate), duration=duration)


def to_mp3(samples: np.ndarray, rate: int) -> bytes:
    return _write(samples, rate, "MP3", "MPEG_LAYER_III")


def to_ogg(samples: np.ndarray, rate: int) -> tuple[bytes, float]:
    """OGG/Opus, and the clip's length in seconds."""
    opus_rate = rate if rate in OPUS_RATES else OPUS_RATE
    samples = _resample(samples, rate, opus_rate)
    return _write(np.clip(samples, -1.0, 1.0), opus_rate, "OGG", "OPUS"), len(samples) / opus_rate


def _write(samples: np.ndarray, rate: int, format_: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=format_, subtype=subtype)
    return buffer.getvalue()
