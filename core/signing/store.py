"""Signed results at rest, so that `GET /verify/{code}` can show them; and the one call a flow makes
to sign something and keep it."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Index, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, UTCDateTime, utcnow
from core.signing.envelope import CODE_PATTERN, MalformedEnvelope, SignedDocument, Signer, new_code

CODE_ATTEMPTS = 5


class SignedDocumentRow(Base):
    __tablename__ = "signed_documents"
    __table_args__ = (Index("ix_signed_documents_kind_subject", "kind", "subject"),)

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128))  # what it is about, e.g. a dossier code
    # The exact text that was signed and handed out: verified as stored, never re-serialised.
    envelope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A readable PDF rendering in the media store, if one was made (it may be erased with its owner).
    pdf_media_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


@dataclass(frozen=True)
class SignedRecord:
    code: str
    kind: str
    subject: str
    envelope_json: str
    created_at: dt.datetime
    pdf_media_id: str | None = None

    def verify_url(self, public_url: str) -> str:
        return verify_url(public_url, self.code)

    def envelope(self) -> SignedDocument:
        """Raises `MalformedEnvelope` if the stored text was damaged."""
        return SignedDocument.loads(self.envelope_json)


def verify_url(public_url: str, code: str) -> str:
    return f"{public_url.rstrip('/')}/verify/{code}"


def normalise_code(text: str) -> str | None:
    """Codes as people type them from paper: any case, with spaces or dashes."""
    code = re.sub(r"[\s-]", "", text).upper()
    return code if CODE_PATTERN.fullmatch(code) else None


async def sign_and_store(session: AsyncSession, signer: Signer, kind: str, subject: str,
                         document: dict[str, Any]) -> SignedRecord:
    """Signs `document` and adds it to `session` (committed with the caller's transaction)."""
    code = await _free_code(session)
    envelope = signer.sign(document, kind=kind, code=code)
    row = SignedDocumentRow(code=code, kind=kind, subject=subject, envelope=envelope.dumps(),
                            created_at=dt.datetime.now(dt.UTC))
    session.add(row)
    await session.flush()
    return _record(row)


async def attach_pdf(session: AsyncSession, code: str, media_id: str) -> None:
    """Records the media id of the PDF rendering of the signed document `code`."""
    row = await session.get(SignedDocumentRow, code)
    if row is None:
        raise LookupError(f"no signed document {code}")
    row.pdf_media_id = media_id
    await session.flush()


async def find_signed(session: AsyncSession, code: str) -> SignedRecord | None:
    normal = normalise_code(code)
    if normal is None:
        return None
    row = await session.get(SignedDocumentRow, normal)
    return None if row is None else _record(row)


async def signed_for(session: AsyncSession, kind: str, subject: str) -> list[SignedRecord]:
    rows = await session.scalars(select(SignedDocumentRow).where(
        SignedDocumentRow.kind == kind, SignedDocumentRow.subject == subject,
    ).order_by(SignedDocumentRow.created_at))
    return [_record(row) for row in rows]


async def _free_code(session: AsyncSession) -> str:
    # 32^10 ≈ 10^15 codes: a clash is a freak event, but a unique key must never surface as a 500.
    for _ in range(CODE_ATTEMPTS):
        code = new_code()
        if await session.get(SignedDocumentRow, code) is None:
            return code
    raise RuntimeError("no free verification code found")


def _record(row: SignedDocumentRow) -> SignedRecord:
    return SignedRecord(row.code, row.kind, row.subject, row.envelope, row.created_at, row.pdf_media_id)


__all__ = ["MalformedEnvelope", "SignedDocumentRow", "SignedRecord", "attach_pdf", "find_signed",
           "normalise_code", "sign_and_store", "signed_for", "verify_url"]
