"""Run a test with orjson (when installed) and as on a machine without its wheel (core/fastjson.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core import fastjson


@pytest.fixture(params=["orjson", "json"])
def json_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test using it runs with orjson (when installed) and with the standard library alone."""
    if request.param == "orjson" and not fastjson.FAST:
        pytest.skip("orjson is not installed")
    if request.param == "json":
        monkeypatch.setattr(fastjson, "orjson", None)
    yield request.param
