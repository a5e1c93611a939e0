"""The readable side of a signed dossier result: the printed fields (chosen per procedure in
data/procedures.yml, `result_fields`) and the one-page PDF kept in the media store for the citizen,
itself signed (PAdES) with the commune's key; the official named under the signature comes from
data/communes/<code>/commune.yml, `signer`. The PDF is made outside any transaction (result.py keeps it)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from backends.onestop.catalogue import Procedure, local
from backends.onestop.result_pdf import FontMissing, RenderedResult, ResultSheet, render_result
from backends.onestop.store import Dossier, read_values
from bots.dialogue.base import Context, Services
from core.forms import FieldSpec
from core.signing import SignedRecord, Signer, SigningError
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


# What draws the PDF: fpdf2 in pure Python, a fraction of a second of CPU, so it runs in a worker thread
# (never on the event loop, never under the writer lock). Tests put a slower or failing one here.
RENDER: Callable[[ResultSheet], RenderedResult] = render_result


@dataclass(frozen=True)
class PdfMade:
    """The signed PDF, or why there is none (`font_missing`, `pdf_signing_failed`)."""

    pdf: bytes | None
    problem: str | None = None


async def make_result_pdf(services: Services, dossier_code: str, record: SignedRecord, sheet: ResultSheet,
                          signer: Signer) -> PdfMade:
    """Renders `sheet` (in a thread) and signs the file itself (PAdES), with no transaction open: the
    caller keeps it in a short one (bots/services/dossiers/result.py). A missing font or a signing
    problem is logged and reported, not raised: the signed result stands without its PDF."""
    try:
        rendered = await asyncio.to_thread(RENDER, sheet)
        pdf = await sign_pdf(rendered.pdf, signer, _seal(services, dossier_code, record, sheet, rendered),
                             signed_at=sheet.signed_at)
    except (FontMissing, SigningError) as problem:
        log.error("the result PDF of %s was not made: %s", dossier_code, problem)
        return PdfMade(None, "font_missing" if isinstance(problem, FontMissing) else "pdf_signing_failed")
    return PdfMade(pdf)


def result_sheet(services: Services, dossier_code: str, record: SignedRecord, document: dict[str, Any],
                 url: str, signer: Signer, procedure: Procedure | None) -> ResultSheet:
    official = services.commune.signer
    note = procedure.in_person_note if procedure else None
    return ResultSheet(
        commune=str(document.get("commune") or services.commune.name),
        title=str(document.get("title", "")), dossier_code=dossier_code,
        decided_at=dt.datetime.fromisoformat(str(document["decided_at"])),
        verification_code=record.code, verify_url=url,
        particulars=[(str(label), str(value)) for label, value in document.get("particulars", [])],
        signer=_common_name(signer.certificate), signer_title=official.title,
        signer_name=official.name, signed_at=signer.clock().replace(microsecond=0),
        in_person_note=local(note, LANG) if note else "",
    )


def _seal(services: Services, dossier_code: str, record: SignedRecord, sheet: ResultSheet,
          rendered: RenderedResult) -> PdfSeal:
    commune = services.commune
    place = ", ".join(part for part in (sheet.commune, commune.district, commune.province) if part)
    phone = commune.office.phone
    on_behalf = ", ".join(part for part in (sheet.signer_name, sheet.signer_title) if part)
    return PdfSeal(
        document_number=record.code,
        reason=f"Kết quả giải quyết thủ tục {sheet.title}, hồ sơ {dossier_code}",
        location=place, name=on_behalf or sheet.signer, contact_info=phone or None,
        box=rendered.signature_box,
    )


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()
