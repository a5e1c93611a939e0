from __future__ import annotations

from core.security import valid_telegram_secret, verify_telegram_secret


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
