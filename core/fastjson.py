"""JSON through orjson when it is installed (a dependency wherever it has a wheel, pyproject.toml), through
the standard library's `json` otherwise, with the same results either way.

- `dumps`: compact JSON in UTF-8, Vietnamese as is (not `\\u` escapes): the bytes of
  `json.dumps(value, ensure_ascii=False, separators=(",", ":"))`, about 20 times faster for a chat reply.
  Two exceptions, both floats: one below 1e-4 is written `0.00001` where `json` writes `1e-05` (the same
  number), and NaN or ±Infinity, which are not JSON (a browser's `JSON.parse` refuses `NaN`), become
  `null`. What orjson refuses (an integer past 64 bits, a key that is not text, a lone surrogate, a
  datetime, a dataclass, a circular reference) goes to `json`, which answers or raises as it always did.
- `loads`: what `json.loads` gives, errors included. orjson reads a body only when it reads it exactly as
  `json` would: bytes (strict JSON in UTF-8), at most `FAST_LOADS_MAX` of them, with no integer that may
  pass 64 bits (orjson makes such a number a float, `json` keeps it whole). Whatever orjson refuses — not
  JSON, not UTF-8, a byte order mark, a lone surrogate (`"\\ud800"` is valid JSON), NaN, Infinity, `1e400`,
  nesting past 1,024 — is read again by `json`, which decides.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

try:
    import orjson
except ImportError:  # no wheel for this machine: the standard library does it all
    orjson = None  # type: ignore[assignment]

FAST = orjson is not None
# Past this, a body is a base64 attachment: one long string, read as fast by `json`, and the check for
# long integers below would cost more than orjson saves.
FAST_LOADS_MAX = 64 * 1024
# Digits stay "0", a minus stays "-", every other byte becomes "x": an integer of 20 digits may pass
# 2**64 - 1, a negative one of 19 digits may pass -2**63 (shorter ones fit orjson's 64-bit integers).
_DIGIT_RUNS = bytes(0x30 if 0x30 <= byte <= 0x39 else byte if byte == 0x2D else 0x78 for byte in range(256))
_LONG_INTEGERS = (b"0" * 20, b"-" + b"0" * 19)
# orjson writes these natively where `json` raises TypeError: left to `json`, which still raises.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME if FAST else 0


def dumps(value: Any) -> bytes:
    """`json.dumps(value, ensure_ascii=False, separators=(",", ":"))` in UTF-8 (floats: module docstring);
    raises as that, and its encoding to UTF-8, would (TypeError, ValueError, UnicodeEncodeError)."""
    if orjson is not None:
        try:
            return orjson.dumps(value, option=_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError: what it does not write, `json` answers for
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def loads(body: bytes | str, *, parse_float: Callable[[str], Any] | None = None,
          parse_constant: Callable[[str], Any] | None = None) -> Any:
    """`json.loads(body, parse_float=…, parse_constant=…)`. orjson calls no hook: a `parse_float` must give
    `float(text)` for every finite number (it may check it), and `parse_constant` (NaN, Infinity) and
    numbers out of a float's range only reach the hooks through `json`, as orjson refuses them."""
    if orjson is not None and isinstance(body, bytes) and len(body) <= FAST_LOADS_MAX:
        runs = body.translate(_DIGIT_RUNS)
        if not any(long in runs for long in _LONG_INTEGERS):
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError:  # `json` reads it, or raises, as it always did
                pass
    return json.loads(body, parse_float=parse_float, parse_constant=parse_constant)
