"""The approved dossier's result PDF is drawn (in a thread) and signed after the approval has committed
(Context.after_commit), then kept and sent to the citizen in a short transaction of its own: while it is
being made, villagers are answered; a failure leaves the approval standing and nothing half-written, and
the dossiers' task issues what the process never did (bots/services/dossiers/result.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from backends.onestop import result_pdf
from backends.onestop.catalogue import ProcedureCatalogue
from backends.onestop.result_pdf import RenderedResult, ResultSheet, render_result
from backends.onestop.store import Dossier, DossierEvent
from bots.server import ASSISTANT
from bots.services.dossiers import document, result
from core.config import Settings
from core.db import Database
from core.models import Media, utcnow
from core.signing.store import signed_for
from tests.support.audit import audit_rows
from tests.support.chat import ChatSession, pushed_now, texts
from tests.support.dossiers import submit
from tests.support.roles import staff_joins

PATIENCE = 30.0
LATER = result.STUCK_AFTER + dt.timedelta(minutes=1)
APOLOGY = "Xin lỗi, hệ thống đang gặp trục trặc"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


async def pdf_count(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Media)
                                        .where(Media.content_type == "application/pdf")) or 0)


async def results_to(client: TestClient, citizen: ChatSession) -> list[dict[str, Any]]:
    return [n for n in await pushed_now(client, citizen) if "ký số" in n["text"]]


async def test_villagers_are_answered_while_the_pdf_is_made(client: TestClient, database: Database,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    citizen, code = await submit(client)
    official, villager = await staff_joins(client), await ChatSession.open(client)
    started, release = threading.Event(), threading.Event()

    def held(sheet: ResultSheet) -> RenderedResult:  # runs in a worker thread
        started.set()
        assert release.wait(PATIENCE)
        return render_result(sheet)

    monkeypatch.setattr(document, "RENDER", held)
    approving = asyncio.create_task(official.say(f"/approve {code}"))
    assert await asyncio.to_thread(started.wait, PATIENCE)
    # The approval has committed, the PDF is being drawn: the event loop and the database are free.
    assert await asyncio.wait_for(villager.say("xin chào"), PATIENCE)
    assert not approving.done() and await pdf_count(database) == 0
    notices = await pushed_now(client, citizen)
    assert any(code in n["text"] for n in notices)  # the approval notice is out already
    assert not [n for n in notices if "ký số" in n["text"]]  # the result message waits for its PDF
    release.set()
    approved = await asyncio.wait_for(approving, PATIENCE)
    assert "Đã duyệt" in texts(approved) and APOLOGY not in texts(approved)
    (signed,) = await results_to(client, citizen)
    assert signed["document_url"] and "Mã xác minh" in signed["text"]
    assert await pdf_count(database) == 1
    assert [e.outcome for e in await audit_rows(database, "dossier.result_pdf")] == ["ok"]
    # Issued: the task finds nothing to do.
    assert await result.recover_results(database, client.app[ASSISTANT].services, _procedures(client),
                                        utcnow() + LATER) == []


async def test_a_failed_pdf_step_leaves_the_approval_and_the_task_issues_the_result(
        client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    citizen, code = await submit(client)
    official = await staff_joins(client)

    def broken(sheet: ResultSheet) -> RenderedResult:
        raise RuntimeError("the renderer crashed")

    monkeypatch.setattr(document, "RENDER", broken)
    approved = await official.say(f"/approve {code}")
    assert "Đã duyệt" in texts(approved) and APOLOGY in texts(approved)
    assert "crashed" not in texts(approved)
    async with database.session() as session:
        dossier = (await session.scalars(select(Dossier).where(Dossier.code == code))).one()
        (record,) = await signed_for(session, result.KIND, code)
    assert dossier.status == "approved" and record.pdf_media_id is None  # the approval stands
    assert await pdf_count(database) == 0 and not await results_to(client, citizen)

    # The dossiers' task: not before STUCK_AFTER (its step may still be running), then once.
    monkeypatch.setattr(document, "RENDER", render_result)
    services = client.app[ASSISTANT].services
    procedures = _procedures(client)
    assert await result.recover_results(database, services, procedures) == []
    assert await result.recover_results(database, services, procedures, utcnow() + LATER) == [record.code]
    assert await result.recover_results(database, services, procedures, utcnow() + LATER) == []
    (signed,) = await results_to(client, citizen)
    assert signed["document_url"] and record.code in signed["text"]
    assert await pdf_count(database) == 1
    async with database.session() as session:
        (record,) = await signed_for(session, result.KIND, code)
    assert record.pdf_media_id is not None


async def test_a_result_sent_without_its_pdf_is_not_issued_again(client: TestClient, database: Database,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setattr(result_pdf, "FONT_DIR", tmp_path)  # no font: the result goes out without a PDF
    citizen, code = await submit(client)
    official = await staff_joins(client)
    assert "Đã duyệt" in texts(await official.say(f"/approve {code}"))
    (signed,) = await results_to(client, citizen)
    assert signed["document_url"] is None
    services, procedures = client.app[ASSISTANT].services, _procedures(client)
    assert await result.recover_results(database, services, procedures, utcnow() + LATER) == []
    # A late step (another node's) finds the message queued: it keeps nothing.
    async with database.session() as session:
        (record,) = await signed_for(session, result.KIND, code)
        dossier = (await session.scalars(select(Dossier).where(Dossier.code == code))).one()
        event_id = await session.scalar(select(DossierEvent.id).where(DossierEvent.dossier_id == dossier.id,
                                                                      DossierEvent.status == "approved"))
    assert event_id is not None
    signer = services.keyring.signer
    url = record.verify_url(services.settings.public_url)
    sheet = document.result_sheet(services, code, record, record.envelope().document, url, signer, None)
    pending = result.PendingResult(code, dossier.user_id, record, url, sheet, result.result_key(event_id))
    async with database.session() as session:
        audit = await result.issue_result(session, services, pending, document.PdfMade(b"%PDF-1.7 late"))
    assert audit == [] and await pdf_count(database) == 0
    async with database.session() as session:
        (record,) = await signed_for(session, result.KIND, code)
    assert record.pdf_media_id is None and len(await results_to(client, citizen)) == 1  # the first only


def _procedures(client: TestClient) -> ProcedureCatalogue:
    return client.app[ASSISTANT].kit.procedures
