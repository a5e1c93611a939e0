"""On approval, the dossier's result is signed with the commune's key and the citizen gets the
verification code and link, so anyone can check it at /verify/{code}."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from backends.onestop.catalogue import ProcedureCatalogue, local
from backends.onestop.store import Dossier
from backends.onestop.workflow import Moved
from bots.dialogue.base import Context
from bots.services.dossiers.document import particulars, store_result_pdf
from bots.services.dossiers.staff import ApprovalHook
from core.messages import Reply
from core.models import User
from core.signing import sign_and_store

log = logging.getLogger(__name__)
KIND = "dossier_result"


class SigningUnavailable(RuntimeError):
    """No signing key: an approval is refused rather than issued unsigned."""


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
        pdf_url = await store_result_pdf(context, dossier, record, document, url, signer, procedure)
        # This reply goes to the citizen, not to the official approving: the citizen's language.
        citizen = await context.session.get(User, dossier.user_id) if dossier.user_id else None
        lang = citizen.language if citizen else context.lang
        text = context.services.catalogue.t("dossier_result.signed", lang, code=record.code, url=url)
        return [Reply(text, document_url=pdf_url)]

    return sign_result
