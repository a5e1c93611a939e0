"""A citizen's dossiers for /mydata: the export (what they declared, their papers, the history, the
signed results) and the erasure, which keeps what the commune must keep by law and drops the rest.

Kept: the dossier row (code, procedure, status, dates), its status history, its rating and its
signed result with the result's PDF. Erased: the declared values, the uploaded papers (their media)
and the texts and papers sent to answer a request. The caller records the erasure in the history
and deletes the account (which detaches the dossier: `user_id` becomes NULL).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backends.onestop.answers import DossierAnswer, answers_of
from backends.onestop.answers import _context as answer_context
from backends.onestop.store import Dossier, _values_context, history, read_values
from core.crypto import FieldCipher
from core.models import Media
from core.signing.store import SignedDocumentRow

ERASED_TEXT = "—"  # what an answer's text reads once erased: the answer's time stays in the record
RESULT_KIND = "dossier_result"


@dataclass(frozen=True, slots=True)
class Forgotten:
    dossiers: int
    papers: int


async def dossiers_of(session: AsyncSession, user_id: int) -> list[Dossier]:
    query = select(Dossier).where(Dossier.user_id == user_id).order_by(Dossier.id)
    return list((await session.execute(query)).scalars())


async def _results(session: AsyncSession, code: str) -> list[SignedDocumentRow]:
    query = select(SignedDocumentRow).where(SignedDocumentRow.kind == RESULT_KIND,
                                            SignedDocumentRow.subject == code)
    return list((await session.execute(query.order_by(SignedDocumentRow.created_at))).scalars())


def _iso(at: dt.datetime | dt.date | None) -> str | None:
    return at.isoformat() if at is not None else None


async def _exported(session: AsyncSession, cipher: FieldCipher, dossier: Dossier) -> dict[str, Any]:
    return {
        "code": dossier.code, "procedure": dossier.procedure_id, "status": dossier.status,
        "submitted_at": _iso(dossier.submitted_at), "due_date": _iso(dossier.due_date),
        "values": read_values(cipher, dossier), "papers": dict(dossier.papers),
        "answers": [{"at": _iso(a.at), "text": a.text, "media": a.media_id}
                    for a in await answers_of(session, cipher, dossier)],
        "history": [{"at": _iso(e.at), "status": e.status, "note": e.note}
                    for e in await history(session, dossier.id)],
        "results": [{"verification_code": r.code, "signed_at": _iso(r.created_at), "pdf": r.pdf_media_id}
                    for r in await _results(session, dossier.code)],
    }


async def export_user(session: AsyncSession, cipher: FieldCipher, user_id: int) -> list[dict[str, Any]]:
    """The user's dossiers as they declared them, with papers (media ids), history and results."""
    return [await _exported(session, cipher, dossier) for dossier in await dossiers_of(session, user_id)]


async def forget_user(session: AsyncSession, cipher: FieldCipher, user_id: int) -> Forgotten:
    """Erases the personal fields of the user's dossiers and keeps the records (see the module)."""
    dossiers = await dossiers_of(session, user_id)
    papers: set[str] = set()
    for dossier in dossiers:
        papers |= set(dossier.papers.values())
        papers |= await _forget_answers(session, cipher, dossier)
        dossier.values_enc = cipher.encrypt("{}", _values_context(dossier.code))
        dossier.papers = {}
        await _keep_results(session, dossier.code)
    papers.discard("")
    if papers:
        await session.execute(delete(Media).where(Media.id.in_(papers))
                              .execution_options(synchronize_session=False))
    await session.flush()
    return Forgotten(len(dossiers), len(papers))


async def _forget_answers(session: AsyncSession, cipher: FieldCipher, dossier: Dossier) -> set[str]:
    """Blanks what the citizen sent to answer requests (the rows stay: their ids name past notices);
    returns the media ids of the papers they sent."""
    rows = list((await session.execute(
        select(DossierAnswer).where(DossierAnswer.dossier_id == dossier.id))).scalars())
    sent = {row.media_id for row in rows if row.media_id}
    for row in rows:
        row.text_enc, row.media_id = cipher.encrypt(ERASED_TEXT, answer_context(dossier.code)), None
    return sent


async def _keep_results(session: AsyncSession, code: str) -> None:
    """The PDF of a signed result is an issued paper: it stays, owned by no one."""
    media = select(SignedDocumentRow.pdf_media_id).where(SignedDocumentRow.kind == RESULT_KIND,
                                                         SignedDocumentRow.subject == code)
    await session.execute(update(Media).where(Media.id.in_(media)).values(owner_id=None)
                          .execution_options(synchronize_session=False))
