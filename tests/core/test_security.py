from __future__ import annotations

from core.crypto import Hasher
from core.security import valid_telegram_secret, verify_telegram_secret, verify_zalo_signature, zalo_signature


def test_telegram_secret_must_match_exactly() -> None:
    assert verify_telegram_secret("abc-DEF_123", "abc-DEF_123")
    for header in (None, "", "abc-DEF_12", "abc-DEF_1234", "ABC-DEF_123", " abc-DEF_123"):
        assert not verify_telegram_secret(header, "abc-DEF_123")


def test_no_configured_secret_never_matches() -> None:
    assert not verify_telegram_secret("", "")
    assert not verify_telegram_secret("anything", None)
    assert not verify_telegram_secret("anything", "")


def test_secret_alphabet_is_telegrams() -> None:
    assert valid_telegram_secret("a" * 256) and valid_telegram_secret("A-z_0")
    assert not valid_telegram_secret("") and not valid_telegram_secret("a" * 257)
    assert not valid_telegram_secret("has space") and not valid_telegram_secret("é")


def test_raw_header_bytes_never_raise_and_never_match() -> None:
    """aiohttp hands header bytes 0x80–0xFF over as lone surrogates (`surrogateescape`)."""
    for header in ("\udcff", "abc-DEF_123\udcff", "\ud800", "é"):
        assert not verify_telegram_secret(header, "abc-DEF_123")


def test_zalo_signature_with_a_timestamp_that_is_not_ascii_digits_is_no_match() -> None:
    body = b'{"timestamp": "1"}'
    good = zalo_signature("app", body, "1700000000000", "secret")
    assert verify_zalo_signature(f"mac={good}", "app", body, "1700000000000", "secret")
    for stamp in ("\ud800", "17\udcff", "１７", "", "-1"):
        assert not verify_zalo_signature(f"mac={good}", "app", body, stamp, "secret")
    assert not verify_zalo_signature("mac=\udcff" + "0" * 63, "app", body, "1", "secret")


def test_the_hasher_takes_any_text() -> None:
    hasher = Hasher(b"k" * 32)
    assert hasher.digest("abc") == hasher.digest("abc") != hasher.digest("\udcff")
    assert hasher.sign("\ud800") != hasher.sign("\ufffd")
    assert hasher.verify("m", hasher.sign("m"))
    for signature in ("é", "\udcff", "", hasher.sign("m") + "\udcff"):
        assert not hasher.verify("m", signature)
