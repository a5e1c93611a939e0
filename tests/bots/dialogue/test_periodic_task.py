"""A service task's loop (bots/dialogue/service.py `periodic`): it works, survives a failure, stops."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bots.dialogue.service import TaskEnvironment, periodic


async def test_work_repeats_survives_a_failure_and_stops(caplog: pytest.LogCaptureFixture) -> None:
    turns: list[int] = []
    fourth = asyncio.Event()

    async def work(_environment: TaskEnvironment) -> None:
        turns.append(len(turns))
        if len(turns) == 4:
            fourth.set()
        if len(turns) == 2:
            raise RuntimeError("database away")

    environment: Any = object()
    stop = asyncio.Event()
    running = asyncio.create_task(periodic(work, failing="nothing could be checked", interval=0.01)(
        environment, stop))
    await asyncio.wait_for(fourth.wait(), 2)
    stop.set()
    await asyncio.wait_for(running, 1)
    assert "nothing could be checked; retrying in 0.01 s" in caplog.text
    assert len([r for r in caplog.records if r.exc_info]) == 1
