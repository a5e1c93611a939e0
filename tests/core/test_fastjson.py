"""core/fastjson.py: the same bytes and values as the standard library's json, with orjson and without it."""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import fastjson

orjson = pytest.importorskip("orjson") if fastjson.FAST else None




def stdlib_dumps(value: Any) -> bytes:
    """What json_response sent before core/fastjson.py."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


REPLY = {
    "text": "Chào bạn! Tôi là trợ lý số của Xã La Bằng. Bạn muốn làm thủ tục gì: khai sinh, tạm trú, "
            "xác nhận cư trú? «Phản ánh hiện trường» 📢 — gõ /help.\nDòng hai\t\"trích\" \\ hết",
    "buttons": [{"label": "📄 Thủ tục", "data": "menu:forms", "url": None},
                {"label": "Đặt lịch khám", "data": "menu:health", "url": "https://xa.example.vn/a?b=1&c=đ"}],
    "audio_url": None, "image_url": None, "document_url": None, "request_location": False,
    "request_phone": True, "kind": "answer", "copy": [{"label": "Mã hồ sơ", "value": "LB-000123"}],
}
CONTROL_AND_BMP = "".join(chr(code) for code in range(0x800)) + "\u2028\u2029\ufeff\ufffd\uffff"


class Level(enum.IntEnum):
    HIGH = 3


class Text(str):
    pass


BODIES: list[Any] = [
    {"replies": [REPLY, REPLY]},
    {"error": "rate_limited", "message": "Bạn gửi quá nhanh, xin đợi một chút.", "replies": []},
    {"status": "ok"}, {}, [], "", "Việt Nam", 0, -1, True, False, None,
    {CONTROL_AND_BMP: [CONTROL_AND_BMP], "astral": "😀𝔘\U0010ffff"},
    {"ints": [2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63)], "level": Level.HIGH, "text": Text("chữ")},
    {"floats": [0.0, -0.0, 1.0, 0.1, 0.0001, 21.0285, 105.8542, 123456789012345.6, 1e16, 1e22, 5e-324 * 0]},
    {"tuple": (1, "hai", (3,)), "nested": [[[[{"a": [{"b": None}]}]]]]},
]


@pytest.mark.parametrize("value", BODIES)
def test_dumps_gives_the_bytes_of_json(json_mode: str, value: Any) -> None:
    assert fastjson.dumps(value) == stdlib_dumps(value)


@pytest.mark.parametrize("value", [
    {"big": 2**64}, {"small": -(2**63) - 1}, [10**30],  # past 64 bits: orjson refuses, json writes them
    {1: "một", 2.5: "x", False: "f", None: "n"},  # keys that are not text: json makes them text
])
def test_dumps_hands_what_orjson_refuses_to_json(json_mode: str, value: Any) -> None:
    assert fastjson.dumps(value) == stdlib_dumps(value)


@pytest.mark.parametrize("value, error", [
    ({"text": "\ud800"}, UnicodeEncodeError),  # a lone surrogate: json writes it, UTF-8 refuses it
    ({"at": dt.datetime(2026, 1, 1)}, TypeError),
    ({"day": dt.date(2026, 1, 1)}, TypeError),
    ({"set": {1}}, TypeError),
])
def test_dumps_raises_as_json_did(json_mode: str, value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        stdlib_dumps(value)
    with pytest.raises(error):
        fastjson.dumps(value)


def test_dumps_of_a_circular_value_raises_as_json_did(json_mode: str) -> None:
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="Circular reference"):
        fastjson.dumps(looped)


def test_the_documented_float_differences() -> None:
    """With orjson: small floats in another notation of the same number; NaN and ±Infinity as null."""
    if not fastjson.FAST:
        pytest.skip("orjson is not installed")
    assert fastjson.dumps(1e-05) == b"0.00001" and stdlib_dumps(1e-05) == b"1e-05"
    assert json.loads(fastjson.dumps(1e-05)) == 1e-05
    assert fastjson.dumps([math.nan, math.inf, -math.inf]) == b"[null,null,null]"


def _values() -> st.SearchStrategy[Any]:
    text = st.text(st.characters(exclude_categories=("Cs",)))  # no lone surrogates: not UTF-8
    floats = st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x == 0 or abs(x) >= 1e-4)
    scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | floats | text
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                        | st.dictionaries(text, inner, max_size=5), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(value=_values())
def test_dumps_matches_json_on_any_value(value: Any) -> None:
    assert fastjson.dumps(value) == stdlib_dumps(value)


# ------------------------------------------------------------------------------------------------ loads
def outcome(call: Any, body: bytes | str, **hooks: Any) -> tuple[str, Any]:
    """The value, or the exception's type and message: what a caller of json.loads can tell apart."""
    try:
        value = call(body, **hooks)
    except (ValueError, RecursionError) as error:
        return "error", (type(error), str(error))
    return "value", repr(value)  # repr: -0.0 is not 0.0, 1 is not 1.0, and NaN is NaN


LOADS_BODIES: list[bytes | str] = [
    json.dumps({"text": "Tôi muốn đăng ký khai sinh cho con", "id": "m-17"}, ensure_ascii=False).encode(),
    json.dumps({"text": "Tôi muốn đăng ký khai sinh"}).encode(),  # \u escapes
    json.dumps({"update_id": 123456789, "message": {"chat": {"id": -100123456789}, "text": "Chào"}}).encode(),
    stdlib_dumps({"replies": [REPLY]}), stdlib_dumps(BODIES[12]),
    # integers: orjson makes a float of one past 64 bits; json keeps it whole
    b'{"update_id": 18446744073709551616}', b"[-9223372036854775809]", b"[-9223372036854775808]",
    b"[18446744073709551615]", b"123456789012345678901234567890", b'{"id": "12345678901234567890"}',
    b'{"zalo": "8731213421431314214", "n": 9999999999999999999}',
    # floats
    b"[0.1, -0.0, -0, 1e-400, 1.5e308, 1E+2, 123456789012345678901234567890.5, 2.5e-7]",
    # lone surrogates, escaped and raw (json decodes bytes with surrogatepass); a pair is an emoji
    b'"\\ud800"', b'{"\\udc00": "x\\ud83d"}', b'"\\ud83d\\ude00"', b'"\xed\xa0\x80"', b'"\\u0000"',
    # not JSON, or not what orjson reads
    b"NaN", b"[Infinity]", b"-Infinity", b"1e400", b"[-1e400]", b"", b" ", b"[1,]", b"{'a': 1}", b"01",
    b'"\x1f"', b"\xff", b"\xc3", b"\xef\xbb\xbf{}", '{"a": 1}'.encode("utf-16"), '"Việt"'.encode("utf-32"),
    b"[" * 100 + b"]" * 100, b"[" * 1100 + b"]" * 1100, b"[" * 5000, b'{"a":1,"a":2,"b":3}',
    b"true", b"null", b" 1 ", b"1 2",
    # str bodies: always json
    "\ufeff{}", '{"a": "\ud800"}', '"chữ"',
]


@pytest.mark.parametrize("body", LOADS_BODIES)
def test_loads_gives_what_json_gives(json_mode: str, body: bytes | str) -> None:
    assert outcome(fastjson.loads, body) == outcome(json.loads, body)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("number out of range")
    return number


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@pytest.mark.parametrize("body", LOADS_BODIES)
def test_loads_with_hooks_gives_what_json_gives(json_mode: str, body: bytes | str) -> None:
    hooks = {"parse_float": _finite, "parse_constant": _no_constant}
    assert outcome(fastjson.loads, body, **hooks) == outcome(json.loads, body, **hooks)


def test_a_big_body_is_read_by_json() -> None:
    big = stdlib_dumps({"data": "A" * fastjson.FAST_LOADS_MAX})
    assert fastjson.loads(big) == json.loads(big)


def test_orjson_reads_a_chat_message_and_not_a_long_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    if not fastjson.FAST:
        pytest.skip("orjson is not installed")
    read: list[bytes] = []

    def spy(body: bytes) -> Any:
        read.append(body)
        return orjson.loads(body)

    spied = SimpleNamespace(loads=spy, JSONDecodeError=orjson.JSONDecodeError)
    monkeypatch.setattr(fastjson, "orjson", spied)
    message = stdlib_dumps({"text": "Xin chào", "id": "m-1"})
    assert fastjson.loads(message) == {"text": "Xin chào", "id": "m-1"}
    assert fastjson.loads(b"[12345678901234567890]") == [12345678901234567890]
    assert fastjson.loads(bytearray(message)) == {"text": "Xin chào", "id": "m-1"}
    assert read == [message]


@settings(max_examples=300, deadline=None)
@given(value=_values(), ascii_only=st.booleans())
def test_loads_matches_json_on_any_value(value: Any, ascii_only: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert outcome(fastjson.loads, body) == outcome(json.loads, body)


@settings(max_examples=500, deadline=None)
@given(body=st.binary(max_size=40) | st.text(alphabet='{}[]",:0123456789.eE+- \\nulltrfaseud\u1ec7\x00',
                                              max_size=40).map(lambda text: text.encode()))
def test_loads_matches_json_on_any_bytes(body: bytes) -> None:
    hooks = {"parse_float": _finite, "parse_constant": _no_constant}
    assert outcome(fastjson.loads, body, **hooks) == outcome(json.loads, body, **hooks)
