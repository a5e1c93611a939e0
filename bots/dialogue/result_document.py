"""The readable side of a signed dossier result: the printed fields (chosen per procedure in
data/procedures.yml, `result_fields`) and the one-page PDF kept in the media store for the citizen."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from backends.onestop.catalogue import Procedure, local
from backends.onestop.result_pdf import FontMissing, ResultSheet, render_result_pdf
from backends.onestop.store import Dossier, read_values
from bots.dialogue.base import Context
from core.forms import FieldSpec
from core.media import media_url, store_media
from core.signing import SignedRecord, attach_pdf

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


async def store_result_pdf(context: Context, dossier: Dossier, record: SignedRecord,
                           document: dict[str, Any], url: str) -> str | None:
    """Renders the signed `document` as a PDF owned by the citizen; returns a signed media link, or
    None (logged and audited) when it cannot be printed: the signed result stands without it."""
    signer = context.services.keyring.signer
    sheet = ResultSheet(
        commune=str(document.get("commune") or context.services.settings.commune_name),
        title=str(document.get("title", "")), dossier_code=dossier.code,
        decided_at=dt.datetime.fromisoformat(str(document["decided_at"])),
        verification_code=record.code, verify_url=url,
        particulars=[(str(label), str(value)) for label, value in document.get("particulars", [])],
        signer=_common_name(signer.certificate) if signer else "",
    )
    try:
        pdf = render_result_pdf(sheet)
    except FontMissing as problem:
        log.error("the result PDF of %s was not made: %s", dossier.code, problem)
        context.audit("dossier.result_pdf", subject=f"dossier:{dossier.code}", outcome="error",
                      detail={"reason": "font_missing"})
        return None
    media_id = await store_media(context.session, pdf, "application/pdf", owner_id=dossier.user_id)
    await attach_pdf(context.session, record.code, media_id)
    context.audit("dossier.result_pdf", subject=f"dossier:{dossier.code}",
                  detail={"code": record.code, "bytes": len(pdf)})
    return media_url(context.services.hasher, context.services.settings.public_url, media_id)


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()
