"""Standard Webhooks 1.0 conformance: what is signed is accepted, anything else is refused without
an exception (SECURITY.md, "Webhooks in" and "Tests that prove it")."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from core.security import sign_standard_webhook, verify_standard_webhook

KEY = bytes(range(24))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
OTHER = "whsec_" + base64.b64encode(b"another key, rotated away").decode()
NOW = 1_767_225_600  # 2026-01-01 00:00:00 UTC
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
BODY = b'{"type":"dossier.status","data":{"code":"LB-2026-000001","status":"approved"}}'


def signed(body: bytes = BODY, msg_id: str = MSG_ID, at: int = NOW, secret: str = SECRET) -> dict[str, str]:
    return sign_standard_webhook(msg_id, at, body, secret)


def test_a_signed_delivery_is_accepted() -> None:
    headers = signed()
    assert verify_standard_webhook(headers, BODY, SECRET, NOW)
    assert verify_standard_webhook(headers, BODY, SECRET, datetime.fromtimestamp(NOW, UTC))
    # Header names are case-insensitive; the secret may come without its prefix.
    upper = {name.upper(): value for name, value in headers.items()}
    assert verify_standard_webhook(upper, BODY, SECRET.removeprefix("whsec_"), NOW)


def test_matches_the_specification_by_hand() -> None:
    content = f"{MSG_ID}.{NOW}.".encode() + BODY
    expected = base64.b64encode(hmac.new(KEY, content, hashlib.sha256).digest()).decode()
    assert signed() == {"webhook-id": MSG_ID, "webhook-timestamp": str(NOW),
                        "webhook-signature": f"v1,{expected}"}


def _mutations(value: bytes) -> list[bytes]:
    """Every single-byte change: each byte flipped (xor 1 and 0x80), dropped, and one byte added."""
    found = []
    for index in range(len(value)):
        for flip in (0x01, 0x80):
            found.append(value[:index] + bytes([value[index] ^ flip]) + value[index + 1:])
        found.append(value[:index] + value[index + 1:])
    found.append(value + b"x")
    return found


def test_every_single_byte_change_of_the_body_is_refused() -> None:
    headers = signed()
    for body in _mutations(BODY):
        assert not verify_standard_webhook(headers, body, SECRET, NOW), body


def test_every_single_byte_change_of_a_header_is_refused() -> None:
    headers = signed()
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        for changed in _mutations(headers[name].encode()):
            text = changed.decode("utf-8", "surrogateescape")
            assert not verify_standard_webhook({**headers, name: text}, BODY, SECRET, NOW), (name, changed)


def test_base64_spellings_that_decode_alike_are_refused() -> None:
    headers = signed()
    signature = headers["webhook-signature"]
    # The last character before "=" carries two unused bits: a decoder ignores them, we must not.
    last = signature[-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for other in alphabet[alphabet.index(last) & ~3:(alphabet.index(last) & ~3) + 4]:
        if other != last:
            forged = signature[:-2] + other + "="
            assert base64.b64decode(forged[3:]) == base64.b64decode(signature[3:])
            assert not verify_standard_webhook({**headers, "webhook-signature": forged}, BODY, SECRET, NOW)


def test_replay_window_is_300_seconds_both_ways() -> None:
    headers = signed()
    for skew in (-300, -299, 0, 299, 300):
        assert verify_standard_webhook(headers, BODY, SECRET, NOW + skew), skew
    for skew in (-301, 301, -3600, 86_400):
        assert not verify_standard_webhook(headers, BODY, SECRET, NOW + skew), skew


def test_one_valid_signature_among_several_is_enough() -> None:
    good = signed()["webhook-signature"]
    old = signed(secret=OTHER)["webhook-signature"]
    headers = signed()
    for value in (f"{old} {good}", f"{good} {old}", f"v2,abc {good}", f"v1,AAAA {good} v1a,xyz"):
        assert verify_standard_webhook({**headers, "webhook-signature": value}, BODY, SECRET, NOW), value
    for value in (old, f"{old} v1,AAAA", good.replace("v1,", "v2,"), good[3:], "", " ", "v1,"):
        assert not verify_standard_webhook({**headers, "webhook-signature": value}, BODY, SECRET, NOW), value


def test_garbage_headers_and_secrets_are_refused_without_raising() -> None:
    headers = signed()
    cases: list[dict] = [
        {}, {"webhook-id": MSG_ID}, {**headers, "webhook-id": ""},
        {**headers, "webhook-timestamp": ""}, {**headers, "webhook-timestamp": f" {NOW}"},
        {**headers, "webhook-timestamp": f"{NOW}.0"}, {**headers, "webhook-timestamp": f"+{NOW}"},
        {**headers, "webhook-timestamp": "1e9"}, {**headers, "webhook-timestamp": "9" * 400},
        {**headers, "webhook-timestamp": "١٧٦٧٢٢٥٦٠٠"},  # Arabic-Indic digits: int() would take them
        {**headers, "webhook-signature": None}, {**headers, "webhook-id": 7},
        {**headers, "webhook-signature": "v1," + "A" * 100_000}, {**headers, "webhook-id": "x" * 10_000},
        {**headers, "webhook-signature": "\ud800"}, {None: None, 3: b"x"},
    ]
    for case in cases:
        assert not verify_standard_webhook(case, BODY, SECRET, NOW)
    for secret in ("", "whsec_", "whsec_!!!", "whsec_QQ", "whsec_" + "A" * 3):
        assert not verify_standard_webhook(headers, BODY, secret, NOW), secret
    assert not verify_standard_webhook(headers, BODY, OTHER, NOW)
    assert not verify_standard_webhook(headers, BODY, SECRET, float("nan"))
    assert not verify_standard_webhook(None, BODY, SECRET, NOW)  # type: ignore[arg-type]
    assert not verify_standard_webhook(headers, None, SECRET, NOW)  # type: ignore[arg-type]


texts = st.text(max_size=80)
header_values = st.one_of(texts, st.sampled_from([MSG_ID, str(NOW), signed()["webhook-signature"]]),
                          st.none(), st.integers(), st.binary(max_size=20))


@settings(max_examples=400, deadline=None)
@given(headers=st.dictionaries(st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature",
                                                "Webhook-Signature", "other"]) | texts,
                               header_values, max_size=5),
       body=st.binary(max_size=200), secret=st.one_of(st.just(SECRET), texts),
       now=st.one_of(st.integers(), st.floats(allow_nan=True)))
def test_never_raises_and_never_accepts_garbage(headers: dict, body: bytes, secret: str, now: float) -> None:
    assert verify_standard_webhook(headers, body, secret, now) is False


@settings(max_examples=200, deadline=None)
@given(msg_id=st.text(min_size=1, max_size=60).filter(lambda text: "\x00" not in text),
       body=st.binary(max_size=300), skew=st.integers(-300, 300))
def test_whatever_we_sign_we_accept(msg_id: str, body: bytes, skew: int) -> None:
    headers = sign_standard_webhook(msg_id, NOW, body, SECRET)
    assert verify_standard_webhook(headers, body, SECRET, NOW + skew)
    assert not verify_standard_webhook(headers, body + b" ", SECRET, NOW + skew)
