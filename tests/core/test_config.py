"""Settings renamed when every channel came to share the durable inbox: the old names still work, with a
warning naming the new one; the new names win when both are set."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from core.config import Settings


def test_inbox_settings_have_neutral_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XASO_INBOX_WORKERS", "6")
    monkeypatch.setenv("XASO_INBOX_KEEP_DAYS", "5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecation warning for the new names
        settings = Settings(_env_file=None)
    assert (settings.inbox_workers, settings.inbox_keep_days) == (6, 5.0)


def test_defaults_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings = Settings(_env_file=None)
    assert (settings.inbox_workers, settings.inbox_keep_days) == (4, 3.0)


def test_the_old_telegram_names_still_work_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XASO_TELEGRAM_INBOX_WORKERS", "7")
    monkeypatch.setenv("XASO_TELEGRAM_INBOX_KEEP_DAYS", "2.5")
    with pytest.warns(FutureWarning) as caught:
        settings = Settings(_env_file=None)
    assert (settings.inbox_workers, settings.inbox_keep_days) == (7, 2.5)
    messages = sorted(str(warning.message) for warning in caught)
    assert messages == ["XASO_TELEGRAM_INBOX_KEEP_DAYS is deprecated: use XASO_INBOX_KEEP_DAYS",
                        "XASO_TELEGRAM_INBOX_WORKERS is deprecated: use XASO_INBOX_WORKERS"]


def test_the_new_name_wins_over_the_old_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XASO_TELEGRAM_INBOX_WORKERS", "7")
    monkeypatch.setenv("XASO_INBOX_WORKERS", "2")
    with pytest.warns(FutureWarning, match="XASO_INBOX_WORKERS is set too and wins"):
        settings = Settings(_env_file=None)
    assert settings.inbox_workers == 2


def test_an_old_name_in_a_dotenv_file_still_works(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("XASO_TELEGRAM_INBOX_KEEP_DAYS=9\n")
    monkeypatch.delenv("XASO_TELEGRAM_INBOX_KEEP_DAYS", raising=False)
    monkeypatch.delenv("XASO_INBOX_KEEP_DAYS", raising=False)
    with pytest.warns(FutureWarning, match="XASO_TELEGRAM_INBOX_KEEP_DAYS is deprecated"):
        settings = Settings(_env_file=env_file)
    assert settings.inbox_keep_days == 9.0


def test_the_old_names_are_still_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XASO_TELEGRAM_INBOX_WORKERS", "0")
    with pytest.raises(ValueError, match="telegram_inbox_workers"):
        Settings(_env_file=None)
