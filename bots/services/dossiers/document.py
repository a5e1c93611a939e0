"""The readable side of a signed dossier result: the printed fields (chosen per procedure in
data/procedures.yml, `result_fields`) and the one-page PDF kept in the media store for the citizen,
itself signed (PAdES) with the commune's key; the official named under the signature comes from
data/commune.yml, `signer`."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from backends.onestop.catalogue import Procedure, local
from backends.onestop.result_pdf import FontMissing, RenderedResult, ResultSheet, render_result
from backends.onestop.store import Dossier, read_values
from bots.dialogue.base import Context
from core.forms import FieldSpec
from core.media import media_url, store_media
from core.signing import SignedRecord, Signer, SigningError, attach_pdf
from core.signing.pdf import PdfSeal, sign_pdf

log = logging.getLogger(__name__)
LANG = "vi"  # results are official papers: printed in Vietnamese whatever the chat language


def particulars(context: Context, dossier: Dossier, procedure: Procedure | None) -> list[list[str]]:
    """[[label, value], …] in print order (a list: canonical JSON keeps list order, not key order)."""
    if procedure is None or not procedure.result_fields:
        return []
    values = read_values(context.services.cipher, dossier)
    specs = {spec.name: spec for spec in procedure.form.fields}
    rows = []
    for name in procedure.result_fields:
        shown = _printed(specs[name], values.get(name))
        if shown:
            rows.append([local(specs[name].label or specs[name].prompt, LANG), shown])
    return rows


def _printed(spec: FieldSpec, value: Any) -> str:
    if value is None or value == "":
        return ""
    if spec.type == "yes_no":
        return "Có" if value else "Không"
    if spec.type == "date" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    option = spec.option(str(value)) if spec.type == "choice" else None
    return local(option.label, LANG) if option else str(value)


async def store_result_pdf(context: Context, dossier: Dossier, record: SignedRecord, document: dict[str, Any],
                           url: str, signer: Signer, procedure: Procedure | None = None) -> str | None:
    """Renders the signed `document` as a PDF, signs the file itself (PAdES) and keeps it for the
    citizen; returns a signed media link, or None (logged and audited) when it cannot be made: the
    signed result stands without it."""
    sheet = result_sheet(context, dossier, record, document, url, signer, procedure)
    try:
        rendered = render_result(sheet)
        pdf = await sign_pdf(rendered.pdf, signer, _seal(context, dossier, record, sheet, rendered),
                             signed_at=sheet.signed_at)
    except (FontMissing, SigningError) as problem:
        log.error("the result PDF of %s was not made: %s", dossier.code, problem)
        reason = "font_missing" if isinstance(problem, FontMissing) else "pdf_signing_failed"
        context.audit("dossier.result_pdf", subject=f"dossier:{dossier.code}", outcome="error",
                      detail={"reason": reason})
        return None
    media_id = await store_media(context.session, pdf, "application/pdf", owner_id=dossier.user_id)
    await attach_pdf(context.session, record.code, media_id)
    context.audit("dossier.result_pdf", subject=f"dossier:{dossier.code}",
                  detail={"code": record.code, "bytes": len(pdf)})
    return media_url(context.services.hasher, context.services.settings.public_url, media_id)


def result_sheet(context: Context, dossier: Dossier, record: SignedRecord, document: dict[str, Any], url: str,
                 signer: Signer, procedure: Procedure | None) -> ResultSheet:
    official = context.services.commune.signer
    note = procedure.in_person_note if procedure else None
    return ResultSheet(
        commune=str(document.get("commune") or context.services.settings.commune_name),
        title=str(document.get("title", "")), dossier_code=dossier.code,
        decided_at=dt.datetime.fromisoformat(str(document["decided_at"])),
        verification_code=record.code, verify_url=url,
        particulars=[(str(label), str(value)) for label, value in document.get("particulars", [])],
        signer=_common_name(signer.certificate), signer_title=official.title,
        signer_name=official.name, signed_at=signer.clock().replace(microsecond=0),
        in_person_note=local(note, LANG) if note else "",
    )


def _seal(context: Context, dossier: Dossier, record: SignedRecord, sheet: ResultSheet,
          rendered: RenderedResult) -> PdfSeal:
    commune = context.services.commune
    place = ", ".join(part for part in (sheet.commune, commune.district, commune.province) if part)
    phone = commune.office.phone
    on_behalf = ", ".join(part for part in (sheet.signer_name, sheet.signer_title) if part)
    return PdfSeal(
        document_number=record.code,
        reason=f"Kết quả giải quyết thủ tục {sheet.title}, hồ sơ {dossier.code}",
        location=place, name=on_behalf or sheet.signer, contact_info=phone or None,
        box=rendered.signature_box,
    )


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()
