"""Headless Chromium (Debian's) driven by Playwright, for the web chat and dashboard tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core.config import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    """The browser to drive; in CI a missing browser is a failure, elsewhere a skip."""
    found = os.environ.get("XASO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("no chromium on this machine: apt-get install chromium")
    return found


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
