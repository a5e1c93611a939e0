"""The server signs the audit chain's head (core/audit_checkpoints.py): every
XASO_AUDIT_CHECKPOINT_SECONDS while the chain moves, and once more when it shuts down."""

from __future__ import annotations

import asyncio

from bots.assistant import Assistant
from bots.server import ASSISTANT
from core.audit_checkpoints import CheckpointCheck, latest_checkpoint, read_checkpoints
from core.config import Settings
from core.db import Database
from core.signing.keys import signing_certificates
from nlu.engine import NLUEngine
from tests.core.test_audit_checkpoints import wait_for_checkpoint_of
from tests.support.served import served_client


async def test_the_interval_loop_is_one_of_the_servers_background_tasks(assistant: Assistant) -> None:
    stop = asyncio.Event()
    stop.set()
    loops = assistant.background(stop)
    assert "audit-checkpoints" in [name for name, _ in loops]
    await asyncio.wait_for(asyncio.gather(*(loop for _, loop in loops)), 5)


async def test_the_server_signs_the_head_at_intervals_and_on_shutdown(
    settings: Settings, database: Database, nlu_engine: NLUEngine
) -> None:
    quick = settings.model_copy(update={"audit_checkpoint_seconds": 0.05})
    async with served_client(quick, database, nlu_engine) as client:
        audit = client.app[ASSISTANT].services.audit
        for n in range(3):
            await audit.record("system", "tick", detail={"n": n})

        await wait_for_checkpoint_of(database, 3)
        await audit.record("system", "tick", detail={"n": 3})  # written after the last interval, maybe
    # Shut down: whatever the last interval missed is signed after the audit writer's last batch.
    latest = await latest_checkpoint(database)
    assert latest is not None and latest.seq == 4
    certificates = signing_certificates(quick.var_dir / "keys")
    check = CheckpointCheck.from_certificates(quick.commune_code, certificates)
    result = await audit.verify(check)
    assert (result.ok, result.checked, result.covered_up_to) == (True, 4, 4)
    assert result.checkpoints == len(await read_checkpoints(database)) >= 2
