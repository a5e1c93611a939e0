"""The certificate of a finished course: signed with the commune's key like a dossier's result (the same
envelope, kept in `signed_documents`, checked at `GET /verify/{code}`), with a one-page PDF on the
result's sheet, itself signed (PAdES). The signature is made in the villager's turn (fast); the PDF is
drawn and signed once that turn has committed, outside the writer lock (`Context.after_commit`), then
kept for the villager and sent. Without a PDF (no font, a signing problem) the certificate stands: its
code and link were given already."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from dataclasses import dataclass

from sqlalchemy import select

from backends.onestop.result_pdf import FontMissing, ResultSheet, render_result
from backends.skills.lessons import Course
from backends.skills.store import SkillProgress
from bots.dialogue.base import Context, FlowHandler, Services
from core.media import media_url, store_media
from core.messages import Button, Reply
from core.models import Media, User
from core.signing import SignedDocumentRow, SignedRecord, Signer, SigningError, attach_pdf, sign_and_store
from core.signing.pdf import PdfSeal, sign_pdf
from core.signing.verify import name_of
from core.state import State
from core.timezones import VIETNAM

log = logging.getLogger(__name__)
KIND = "skills_certificate"
FAMILY = FLOW = "learn"  # the villager's flow (course.py) owns the buttons and the state
TITLE = "Giấy chứng nhận hoàn thành khóa học kỹ năng số"


def subject(progress: SkillProgress) -> str:
    return f"skills:{progress.id}"


async def display_name(context: Context) -> str | None:
    """The name the chat platform gave for this villager, if any."""
    return await context.session.scalar(select(User.display_name).where(User.id == context.identity.id))


@dataclass
class CertificateDesk:
    async def ask_name(self, context: Context, course: Course, prefix: str = "") -> Reply:
        """The name to print: typed, or the platform's with a button."""
        context.set_state(State(FLOW, {"course": course.id, "awaiting": "name"}))
        known = (await display_name(context) or "").strip()
        buttons = [Button(context.t("skills.button.use_name", name=known), f"{FAMILY}:name:{course.id}")] \
            if known else []
        buttons.append(Button(context.t("skills.button.stop"), f"{FAMILY}:stop", means="cancel"))
        return Reply(prefix + context.t("skills.ask_name", course=course.name(context.lang)), tuple(buttons))

    def confirm_name(self, context: Context, course: Course, name: str) -> Reply:
        """The name read back before it is signed: «Đúng» signs; «Sửa» asks it again."""
        context.set_state(State(FLOW, {"course": course.id, "awaiting": "name", "name": name}))
        return Reply(context.t("skills.confirm_name", name=name), (
            Button(context.t("skills.button.name_right"), f"{FAMILY}:sign:{course.id}", means="yes"),
            Button(context.t("skills.button.name_change"), f"{FAMILY}:finish:{course.id}", means="no")))

    async def issue(self, context: Context, course: Course, progress: SkillProgress,
                    name: str) -> list[Reply]:
        signer = context.services.keyring.signer
        if signer is None:
            log.error("no signing key: the certificate of %s is not issued (run `xaso keys init`)", course.id)
            return [Reply(context.t("skills.no_key"))]
        commune = context.services.commune.name or context.services.settings.commune_name
        finished = progress.finished_at or dt.datetime.now(dt.UTC)
        document = {
            "commune": commune,
            "title": TITLE,
            "course": course.name("vi"),
            "learner": name,
            "completed_at": finished.isoformat(),
            "lessons": [lesson.title["vi"] for lesson in course.lessons],
        }
        record = await sign_and_store(context.session, signer, KIND, subject(progress), document)
        progress.certificate = record.code
        await context.session.flush()
        context.audit("skills.certificate", subject=f"skills:{course.id}", detail={"code": record.code})
        url = record.verify_url(context.services.settings.public_url)
        sheet = certificate_sheet(context.services, record, document, url, signer)
        context.after_commit(functools.partial(_make_pdf, context.services, signer, record, sheet))
        return [Reply(context.t("skills.certificate", course=course.name(context.lang), code=record.code,
                                url=url), (Button(context.t("skills.button.other"), f"{FAMILY}:list"),))]

    async def resend(self, context: Context, course: Course, progress: SkillProgress) -> list[Reply]:
        """The certificate's code and link again, with its PDF if it is still kept."""
        code = progress.certificate or ""
        row = await context.session.get(SignedDocumentRow, code)
        if row is None:  # erased with an earlier account, or never kept: issue it afresh
            progress.certificate = None
            return [await self.ask_name(context, course)]
        pdf_url = None
        if row.pdf_media_id is not None and await context.session.get(Media, row.pdf_media_id) is not None:
            pdf_url = media_url(context.services.hasher, context.services.settings.public_url,
                                row.pdf_media_id)
        url = SignedRecord(row.code, row.kind, row.subject, row.envelope, row.created_at).verify_url(
            context.services.settings.public_url)
        text = context.t("skills.certificate_again", course=course.name(context.lang), code=code, url=url)
        return [Reply(text,
                      (Button(context.t("skills.button.other"), f"{FAMILY}:list"),), document_url=pdf_url)]


def certificate_sheet(services: Services, record: SignedRecord, document: dict[str, object], url: str,
                      signer: Signer) -> ResultSheet:
    finished = dt.datetime.fromisoformat(str(document["completed_at"]))
    official = services.commune.signer
    lessons = document.get("lessons")
    return ResultSheet(
        commune=str(document["commune"]), title=str(document["course"]), dossier_code="",
        decided_at=finished, verification_code=record.code, verify_url=url,
        heading="GIẤY CHỨNG NHẬN HOÀN THÀNH KHÓA HỌC KỸ NĂNG SỐ",
        rows=(("Chứng nhận ông/bà", str(document["learner"])),
              ("Đã hoàn thành khóa", str(document["course"])),
              ("Các bài đã học", "; ".join(str(item) for item in lessons)
               if isinstance(lessons, list) else ""),
              ("Ngày hoàn thành", f"{finished.astimezone(VIETNAM):%d/%m/%Y}")),
        notes=("Khóa học do Tổ công nghệ số cộng đồng của xã hướng dẫn qua trợ lý Xã Số.",
               "Giấy chứng nhận điện tử có chữ ký số của xã: quét mã QR bên dưới hoặc mở địa chỉ xác minh "
               "để kiểm tra."),
        signer=name_of(signer.certificate.subject) or "", signer_title=official.title,
        signer_name=official.name, signed_at=signer.clock().replace(microsecond=0),
    )


async def _make_pdf(services: Services, signer: Signer, record: SignedRecord,
                    sheet: ResultSheet) -> FlowHandler:
    """After the turn's commit, no lock held: the PDF drawn (in a thread) and signed; then the handler
    that keeps it for the villager and sends it."""
    try:
        rendered = await asyncio.to_thread(render_result, sheet)
        seal = PdfSeal(document_number=record.code, reason=f"{TITLE}: {sheet.title}",
                       location=", ".join(part for part in (sheet.commune, services.commune.district,
                                                            services.commune.province) if part),
                       name=sheet.signer_name or sheet.signer, box=rendered.signature_box)
        pdf: bytes | None = await sign_pdf(rendered.pdf, signer, seal, signed_at=sheet.signed_at)
    except (FontMissing, SigningError) as problem:
        log.error("the certificate PDF %s was not made: %s", record.code, problem)
        pdf = None

    async def keep(context: Context) -> list[Reply]:
        row = await context.session.get(SignedDocumentRow, record.code)
        if pdf is None or row is None or row.pdf_media_id is not None:
            return []
        media_id = await store_media(context.session, pdf, "application/pdf", owner_id=context.identity.id)
        await attach_pdf(context.session, record.code, media_id)
        context.audit("skills.certificate_pdf", subject=f"certificate:{record.code}",
                      detail={"bytes": len(pdf)})
        return [Reply(context.t("skills.certificate_pdf"), document_url=media_url(
            services.hasher, services.settings.public_url, media_id))]

    return keep
