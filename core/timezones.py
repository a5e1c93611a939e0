"""The commune's time zone, one definition for the whole project (nlu/, which imports nothing of
ours, keeps a fixed-offset copy for its date parser)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
