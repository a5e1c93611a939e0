"""What our HTTP handlers read from outside, read so that no input raises past them (SECURITY.md: no input
of any shape produces a 5xx).

- JSON bodies: `parse_json` refuses what is not JSON, nested deeper than `MAX_JSON_DEPTH`, or a number
  that is not finite (`NaN`, `1e400`), and returns text that every database stores (`storable`);
- text: a lone surrogate (`"\\ud800"` is valid JSON, not valid UTF-8) and NUL (refused by PostgreSQL)
  become U+FFFD, so that an event is handled with the character replaced instead of failing at every
  try in the inbox;
- forms: `read_form` is None for a body that cannot be read as the form it claims to be (a bad multipart
  boundary, an unknown charset, bytes that do not decode);
- opaque tokens from headers and cookies (`token_syntax`): ours are URL-safe base64, so anything else
  (raw bytes 0x80–0xFF arrive as lone surrogates) is refused before it is hashed or looked up.
"""

from __future__ import annotations

import math
import re
import zlib
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from core import fastjson

MAX_JSON_DEPTH = 64  # the deepest real delivery (a Telegram update) is about 6
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")
_DIGITS = re.compile(r"[0-9]{1,19}")
INT64_MAX = 2**63 - 1


class BadInput(ValueError):
    """The body is not what the route accepts: answered 400."""


def clean_text(text: str) -> str:
    """`text` with lone surrogates and NUL replaced by U+FFFD (nothing else changes)."""
    return _UNSTORABLE.sub("\ufffd", text)


def storable(value: Any, depth: int = 0) -> Any:
    """A parsed JSON value with every string (keys included) cleaned; BadInput when nested deeper than
    `MAX_JSON_DEPTH`."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict | list) and depth >= MAX_JSON_DEPTH:
        raise BadInput("JSON nested too deep")
    if isinstance(value, dict):
        return {clean_text(key): storable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item, depth + 1) for item in value]
    return value


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise BadInput("number out of range")
    return number


def _no_constant(name: str) -> Any:
    raise BadInput(f"{name} is not JSON")


def parse_json(body: bytes | str) -> Any:
    """The body as JSON, made storable; BadInput for anything else (bad UTF-8 and too deep included)."""
    try:
        # orjson where installed, for a body it reads as `json` does; `json` for any other (core/fastjson.py)
        loaded = fastjson.loads(body, parse_float=_finite, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadInput(type(error).__name__) from None
    return storable(loaded)


async def read_json(request: web.Request) -> Any:
    """The request's body as JSON (`parse_json`); BadInput when it is not."""
    return parse_json(await request.read())


async def read_form(request: web.Request) -> MultiDictProxy[Any] | None:
    """The request's form, or None when the body is not the form it claims to be. A body over the size
    limit still raises HTTPRequestEntityTooLarge (answered 413 by the server's middleware)."""
    try:
        return await request.post()
    except (ValueError, LookupError, RuntimeError, zlib.error):
        # ValueError: a bad multipart boundary or part, bytes not in the declared charset (UnicodeError),
        # base64 that does not decode; LookupError: an unknown charset; RuntimeError: an unknown
        # content or transfer encoding of a part; zlib.error: a compressed part that does not inflate.
        return None


def token_syntax(value: str | None, max_chars: int = 128) -> bool:
    """True when `value` can be one of our opaque tokens (URL-safe base64, at most `max_chars`)."""
    return value is not None and len(value) <= max_chars and _TOKEN.fullmatch(value) is not None


def int64(text: str | None) -> int | None:
    """A non-negative integer in ASCII digits that fits a database's 64-bit integer; None otherwise
    (`"²".isdigit()` is true, and `int("99…9")` does not fit a BIGINT)."""
    if text is None or _DIGITS.fullmatch(text) is None:
        return None
    number = int(text)
    return number if number <= INT64_MAX else None
