"""On approval, the dossier's result is signed with the commune's key and the citizen gets the
verification code and link, so anyone can check it at /verify/{code}.

The approving turn signs the result (a signature: fast) and tells the citizen of the approval. Its PDF
is drawn and signed once that turn has committed, outside the writer lock (`Context.after_commit`);
a short transaction then keeps it and queues the citizen's result message with it (the outbox key
`dossier-event:<approval>:1`, right after the approval notice). Should the process die in between, the
dossiers' task (`recover_results`) finds the signed results that have neither their PDF nor their
message and issues them: nothing stays without its result."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backends.onestop.catalogue import ProcedureCatalogue, local
from backends.onestop.result_pdf import ResultSheet
from backends.onestop.store import Dossier, DossierEvent
from backends.onestop.workflow import Moved
from bots.dialogue.base import Context, FlowHandler, Services
from bots.dialogue.notify import notify
from bots.dialogue.service import TaskEnvironment, TaskRun, periodic
from bots.services.dossiers.document import PdfMade, make_result_pdf, particulars, result_sheet
from bots.services.dossiers.staff import ApprovalHook
from core.db import Database
from core.media import media_url, store_media
from core.messages import Reply
from core.models import OutboxMessage, User, utcnow
from core.pipeline import AuditScalar
from core.signing import SignedDocumentRow, SignedRecord, Signer, attach_pdf, sign_and_store
from core.signing.envelope import SignedDocument

log = logging.getLogger(__name__)
KIND = "dossier_result"
# A result left without its PDF and message this long after signing was not being made (its step
# takes seconds): the task issues it. Not older than LOOK_BACK: those were dealt with by hand.
STUCK_AFTER = dt.timedelta(minutes=10)
LOOK_BACK = dt.timedelta(days=7)
INTERVAL = 60.0


class SigningUnavailable(RuntimeError):
    """No signing key: an approval is refused rather than issued unsigned."""


@dataclass(frozen=True)
class PendingResult:
    """What the result's PDF and message are made from, read in the approving transaction (no database
    object crosses the commit)."""

    dossier_code: str
    owner_id: int | None
    record: SignedRecord
    url: str
    sheet: ResultSheet
    key: str  # the outbox key of the citizen's result message


def result_key(event_id: int) -> str:
    """The citizen's result message: the second of the approval's notices (notify.py)."""
    return f"dossier-event:{event_id}:1"


def result_signer(procedures: ProcedureCatalogue) -> ApprovalHook:
    async def sign_result(context: Context, dossier: Dossier, moved: Moved) -> Sequence[Reply]:
        signer = context.services.keyring.signer
        if signer is None:
            raise SigningUnavailable("no signing key: run `xaso keys init`")
        procedure = procedures.get(dossier.procedure_id)
        # Only what the printed result shows: the public page displays every field to code holders.
        document = {
            "commune": context.services.commune.name,
            "dossier_code": dossier.code,
            "procedure": dossier.procedure_id,
            "title": local(procedure.name, "vi") if procedure else dossier.procedure_id,
            "decision": "approved",
            "decided_at": moved.event.at.isoformat(),
            "particulars": particulars(context, dossier, procedure),  # result_fields, as printed
        }
        record = await sign_and_store(context.session, signer, KIND, dossier.code, document)
        context.audit("dossier.signed", subject=f"dossier:{dossier.code}", detail={"code": record.code})
        url = record.verify_url(context.services.settings.public_url)
        pending = PendingResult(dossier.code, dossier.user_id, record, url,
                                result_sheet(context.services, dossier.code, record, document, url, signer,
                                             procedure),
                                result_key(moved.event.id))
        context.after_commit(functools.partial(_make_pdf, context.services, signer, pending))
        return []  # the result message follows the approval notice once its PDF is made

    return sign_result


async def _make_pdf(services: Services, signer: Signer, pending: PendingResult) -> FlowHandler:
    """After the approval's commit, no lock held: the PDF; then the handler that keeps it and tells the
    citizen (the official who approved hears nothing more)."""
    made = await make_result_pdf(services, pending.dossier_code, pending.record, pending.sheet, signer)

    async def issue(context: Context) -> list[Reply]:
        for action, outcome, detail in await issue_result(context.session, services, pending, made):
            context.audit(action, subject=f"dossier:{pending.dossier_code}", outcome=outcome, detail=detail)
        return []

    return issue


class _AlreadyIssued(Exception):
    """Another step or node issued this result first: what this one wrote is undone."""


AuditRow = tuple[str, str, dict[str, AuditScalar]]


async def issue_result(session: AsyncSession, services: Services, pending: PendingResult,
                       made: PdfMade) -> list[AuditRow]:
    """In the caller's short transaction: the PDF kept and attached to the signed record, and the
    citizen's result message queued with it, both or neither; nothing when it was issued already.
    Returns the audit entries to write (action, outcome, detail)."""
    row = await session.get(SignedDocumentRow, pending.record.code)
    if row is None or row.pdf_media_id is not None:
        return []  # erased meanwhile, or issued already
    citizen = await session.get(User, pending.owner_id) if pending.owner_id is not None else None
    audit: list[AuditRow] = []
    try:
        async with session.begin_nested():
            pdf_url = None
            if made.pdf is not None:
                media_id = await store_media(session, made.pdf, "application/pdf", owner_id=pending.owner_id)
                await attach_pdf(session, pending.record.code, media_id)
                pdf_url = media_url(services.hasher, services.settings.public_url, media_id)
                audit.append(("dossier.result_pdf", "ok",
                              {"code": pending.record.code, "bytes": len(made.pdf)}))
            else:
                audit.append(("dossier.result_pdf", "error", {"reason": made.problem or "unknown"}))
            if citizen is not None:
                # This message goes to the citizen, not to the official approving: the citizen's language.
                text = services.catalogue.t("dossier_result.signed", citizen.language,
                                            code=pending.record.code, url=pending.url)
                reply = Reply(text, document_url=pdf_url)
                if not await notify(session, services, citizen, reply, pending.key):
                    raise _AlreadyIssued
    except _AlreadyIssued:
        return []
    return audit


# -- results the process died before issuing


async def unissued_results(session: AsyncSession, now: dt.datetime, *,
                           commune: str | None = None) -> list[tuple[SignedRecord, Dossier, int]]:
    """Signed results between STUCK_AFTER and LOOK_BACK old with no PDF whose citizen still exists and
    has not been sent the result message, of `commune`'s dossiers (None: of every commune's):
    (record, dossier, approval event id)."""
    query = (select(SignedDocumentRow, Dossier)
             .join(Dossier, Dossier.code == SignedDocumentRow.subject)
             .join(User, User.id == Dossier.user_id)
             .where(SignedDocumentRow.kind == KIND, SignedDocumentRow.pdf_media_id.is_(None),
                    SignedDocumentRow.created_at < now - STUCK_AFTER,
                    SignedDocumentRow.created_at > now - LOOK_BACK))
    if commune is not None:
        query = query.where(Dossier.commune == commune)
    rows = await session.execute(query.order_by(SignedDocumentRow.created_at))
    found = []
    for row, dossier in rows.all():
        event_id = await session.scalar(
            select(DossierEvent.id)
            .where(DossierEvent.dossier_id == dossier.id, DossierEvent.status == "approved")
            .order_by(DossierEvent.id.desc()).limit(1))
        if event_id is None:
            continue
        queued = await session.scalar(select(OutboxMessage.id)
                                      .where(OutboxMessage.key == result_key(event_id)))
        if queued is None:
            found.append((SignedRecord(row.code, row.kind, row.subject, row.envelope, row.created_at,
                                       row.pdf_media_id), dossier, event_id))
    return found


async def recover_results(database: Database, services: Services, procedures: ProcedureCatalogue,
                          now: dt.datetime | None = None) -> list[str]:
    """Issues the results of `services.commune`'s dossiers whose step never ran (the process died after
    the approval committed, or the step failed), signed with that commune's key: the PDF made outside
    any transaction, then kept and sent in a short one each. Returns the verification codes issued."""
    signer = services.keyring.signer
    if signer is None:
        return []
    async with database.session() as session:
        waiting = await unissued_results(session, now or utcnow(), commune=services.commune.code)
    issued: list[str] = []
    for record, dossier, event_id in waiting:
        document = SignedDocument.loads(record.envelope_json).document
        url = record.verify_url(services.settings.public_url)
        sheet = result_sheet(services, dossier.code, record, document, url, signer,
                             procedures.get(dossier.procedure_id))
        pending = PendingResult(dossier.code, dossier.user_id, record, url, sheet, result_key(event_id))
        made = await make_result_pdf(services, dossier.code, record, sheet, signer)
        async with database.session() as session:
            audit = await issue_result(session, services, pending, made)
        if not audit:
            continue  # issued meanwhile by its own step or another node
        log.warning("the result %s of dossier %s was left unissued: issued now", record.code, dossier.code)
        issued.append(record.code)
        for action, outcome, detail in audit:
            await services.audit.record("system", action, subject=f"dossier:{dossier.code}", outcome=outcome,
                                        detail={**detail, "recovered": True})
    return issued


def task(procedures: ProcedureCatalogue) -> TaskRun:
    """The dossiers' background task: results left unissued, every `INTERVAL` seconds; it runs once per
    commune (`environment.services` is that commune's) and issues that commune's only."""
    async def once(environment: TaskEnvironment) -> None:
        await recover_results(environment.database, environment.services, procedures)

    return periodic(once, failing="results left unissued could not be checked", interval=INTERVAL)
