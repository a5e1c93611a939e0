"""`Stripe-Signature` verification (SECURITY.md, Stripe row): HMAC-SHA256 over "{t}.{raw body}" with
the endpoint secret, any `v1` may match, 300 s either way, and never an exception."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from core.security import sign_stripe_payload, verify_stripe_signature

SECRET = "whsec_test_xaso_endpoint_secret"
OTHER = "whsec_rotated_away"
NOW = 1_767_225_600  # 2026-01-01 00:00:00 UTC
BODY = b'{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}'


def independent_v1(body: bytes, secret: str, at: int) -> str:
    """Stripe's documented scheme, written out again without the code under test."""
    return hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()


def test_what_stripe_signs_is_accepted() -> None:
    header = f"t={NOW},v1={independent_v1(BODY, SECRET, NOW)}"
    assert sign_stripe_payload(BODY, SECRET, NOW) == header
    assert verify_stripe_signature(header, BODY, SECRET, NOW)
    assert verify_stripe_signature(header, BODY, SECRET, datetime.fromtimestamp(NOW + 300, UTC))


def test_any_v1_may_match_and_v0_is_ignored() -> None:
    good, bad = independent_v1(BODY, SECRET, NOW), independent_v1(BODY, OTHER, NOW)
    assert verify_stripe_signature(f"t={NOW},v1={bad},v1={good}", BODY, SECRET, NOW)
    assert verify_stripe_signature(f"t={NOW},v0={bad},v1={good}", BODY, SECRET, NOW)
    assert not verify_stripe_signature(f"t={NOW},v0={good}", BODY, SECRET, NOW)
    assert not verify_stripe_signature(f"t={NOW},v1={bad}", BODY, SECRET, NOW)


def test_stale_and_future_timestamps_are_refused() -> None:
    for at in (NOW - 301, NOW + 301, NOW - 86_400, NOW + 86_400):
        assert not verify_stripe_signature(sign_stripe_payload(BODY, SECRET, at), BODY, SECRET, NOW)
    for at in (NOW - 300, NOW + 300):
        assert verify_stripe_signature(sign_stripe_payload(BODY, SECRET, at), BODY, SECRET, NOW)


def test_every_single_byte_change_is_refused() -> None:
    header = sign_stripe_payload(BODY, SECRET, NOW)
    for index in range(len(BODY)):
        changed = bytearray(BODY)
        changed[index] ^= 0x01
        assert not verify_stripe_signature(header, bytes(changed), SECRET, NOW)
    signature_at = header.index("v1=") + 3
    for index in range(signature_at, len(header)):
        flipped = "0" if header[index] != "0" else "1"
        assert not verify_stripe_signature(header[:index] + flipped + header[index + 1:], BODY, SECRET, NOW)


def test_malformed_headers_and_missing_secrets_fail_closed() -> None:
    good = independent_v1(BODY, SECRET, NOW)
    for header in (None, "", "garbage", f"v1={good}", f"t={NOW}", f"t=abc,v1={good}",
                   f"t={NOW},t={NOW},v1={good}", f"t={NOW},v1={good.upper()}", f"t={NOW};v1={good}",
                   f"t=-{NOW},v1={good}", f"t={NOW}.5,v1={good}", f"t={NOW},v1={good}," + "x" * 5000):
        assert not verify_stripe_signature(header, BODY, SECRET, NOW)
    assert not verify_stripe_signature(f"t={NOW},v1={good}", BODY, None, NOW)
    assert not verify_stripe_signature(f"t={NOW},v1={good}", BODY, "", NOW)
    assert not verify_stripe_signature(f"t={NOW},v1={good}", BODY, SECRET, float("nan"))


@settings(max_examples=300, deadline=None)
@given(header=st.text(max_size=300), body=st.binary(max_size=200))
def test_never_raises_on_arbitrary_input(header: str, body: bytes) -> None:
    assert verify_stripe_signature(header, body, SECRET, NOW) in (True, False)
