"""PAdES signatures of the commune's PDFs, with pyHanko.

`sign_pdf` adds a PAdES baseline signature (ETSI.CAdES.detached) in an incremental update of a
finished PDF, with the commune's key and certificate, so any PDF reader lists it as signed.
`verify_pdf` checks a PDF as `verify_json` checks an envelope: the bytes signed are intact, nothing
but validation data was appended afterwards, the certificate leads to a trusted root (judged at the
signing time), and the signer is this commune.

The document number is written into the document information of the signing revision
(`/XasoDocumentNumber`), so the verifier reads it from what the signature covers.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography import x509
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, SimpleSigner
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from core.signing.envelope import Signer, SigningError
from core.signing.verify import CLOCK_SKEW, Reason, name_of

if TYPE_CHECKING:
    from asn1crypto import x509 as asn1_x509

log = logging.getLogger(__name__)
PDF_MAGIC = b"%PDF-"
FIELD_NAME = "ChuKySo"
NUMBER_KEY = "/XasoDocumentNumber"
# After the signature, only validation data (DSS, document timestamps) may be appended.
HARMLESS_UPDATES = {ModificationLevel.NONE, ModificationLevel.LTA_UPDATES}
# The signing certificate must allow signatures: either bit, as core.signing.verify accepts.
KEY_USAGE = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"},
                                match_all_key_usages=False)
# The page draws the signature block itself (in a font that covers Vietnamese); the widget over it
# stays blank, so it only makes the block clickable in readers that show signature details.
BLANK_STAMP = TextStampStyle(stamp_text=" ", border_width=0)
Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in PDF points, origin bottom left


def is_pdf(raw: bytes) -> bool:
    return raw.startswith(PDF_MAGIC)


@dataclass(frozen=True)
class PdfSeal:
    """What the signature dictionary says besides the signature itself."""

    document_number: str
    reason: str
    location: str
    name: str  # the person or office on whose behalf the commune's key signs
    contact_info: str | None = None
    box: Box | None = None  # a widget on the first page, or an invisible signature
    field_name: str = FIELD_NAME


async def sign_pdf(pdf: bytes, signer: Signer, seal: PdfSeal, signed_at: dt.datetime | None = None) -> bytes:
    """The PDF with a PAdES signature appended; `signed_at` defaults to the signer's clock.
    Raises `SigningError` when the certificate is not valid then or the PDF cannot be signed."""
    moment = (signed_at or signer.clock()).replace(microsecond=0)
    signer.check_valid(moment)
    try:
        return await _sign(pdf, signer, seal, moment)
    except (ValueError, PdfError) as problem:  # pyHanko's SigningError is a ValueError
        raise SigningError(f"cannot sign the PDF: {problem}") from problem


async def _sign(pdf: bytes, signer: Signer, seal: PdfSeal, moment: dt.datetime) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    _write_document_number(writer, seal.document_number)
    meta = PdfSignatureMetadata(
        field_name=seal.field_name, md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES,
        reason=seal.reason, location=seal.location, name=seal.name, contact_info=seal.contact_info,
    )
    # pyHanko annotates the box as ints but writes any PDF number (FloatObject) for its corners.
    field_spec = SigFieldSpec(seal.field_name, on_page=0, box=seal.box)  # type: ignore[arg-type]
    pdf_signer = PdfSigner(meta, _pyhanko_signer(signer), stamp_style=BLANK_STAMP, new_field_spec=field_spec)
    return await _sign_at(pdf_signer, writer, moment)


async def _sign_at(pdf_signer: PdfSigner, writer: IncrementalPdfFileWriter, moment: dt.datetime) -> bytes:
    # PdfSigner.async_sign_pdf, step by step, to sign at our clock's time rather than the machine's:
    # the printed signing time and the one in the signature are then the same.
    session = pdf_signer.init_signing_session(writer)
    session.system_time = moment
    validation = await session.perform_presign_validation(writer)
    reserved = await session.estimate_signature_container_size(validation)
    document = session.prepare_tbs_document(validation_info=validation, bytes_reserved=reserved)
    digest, output = document.digest_tbs_document()
    signed = await document.perform_signature(
        document_digest=digest.document_digest,
        pdf_cms_signed_attrs=PdfCMSSignedAttributes(signing_time=moment),
    )
    await signed.post_signature_processing(output)
    output.seek(0)
    signed_pdf: bytes = output.read()  # pyHanko types its output stream as a bare IO
    return signed_pdf


def _pyhanko_signer(signer: Signer) -> SimpleSigner:
    issuers = [translate_pyca_cryptography_cert_to_asn1(item) for item in signer.chain]
    return SimpleSigner(signing_cert=translate_pyca_cryptography_cert_to_asn1(signer.certificate),
                        signing_key=translate_pyca_cryptography_key_to_asn1(signer.key),
                        cert_registry=SimpleCertificateStore.from_certs(issuers))


def _write_document_number(writer: IncrementalPdfFileWriter, number: str) -> None:
    reference = writer.trailer.raw_get("/Info") if "/Info" in writer.trailer else None
    if isinstance(reference, generic.IndirectObject):
        info = reference.get_object()
        info[generic.NameObject(NUMBER_KEY)] = generic.TextStringObject(number)
        writer.mark_update(reference)
    else:
        writer.set_info(generic.DictionaryObject({generic.NameObject(NUMBER_KEY):
                                                  generic.TextStringObject(number)}))


@dataclass(frozen=True)
class PdfVerification:
    ok: bool
    reasons: tuple[Reason, ...]
    signer: str | None = None  # RFC 4514 subject of the signing certificate
    signer_name: str | None = None  # its common name (or organisation)
    issuer_name: str | None = None
    signed_at: dt.datetime | None = None  # as the signer states it, in the signed attributes
    document_number: str | None = None
    signed_for: str | None = None  # /Name of the signature dictionary
    reason: str | None = None
    location: str | None = None
    signatures: int = 0
    details: tuple[str, ...] = field(default=())


async def verify_pdf(raw: bytes, anchors: Sequence[x509.Certificate],
                     signer_subjects: Collection[str] | None = None,
                     now: dt.datetime | None = None) -> PdfVerification:
    """Never raises: anything unreadable is `malformed`; a PDF with no signature `not_signed`."""
    # What pyHanko logs about a bad signature (with a traceback) is the verdict returned here.
    logging.getLogger("pyhanko.sign.validation").setLevel(logging.ERROR)
    try:
        return await _verify_pdf(raw, anchors, signer_subjects, now or dt.datetime.now(dt.UTC))
    except Exception as problem:  # a verifier answers "invalid", it never crashes
        log.debug("unverifiable PDF", exc_info=True)
        return PdfVerification(False, (Reason.MALFORMED,), details=(type(problem).__name__,))


async def _verify_pdf(raw: bytes, anchors: Sequence[x509.Certificate],
                      signer_subjects: Collection[str] | None, now: dt.datetime) -> PdfVerification:
    if not is_pdf(raw):
        return PdfVerification(False, (Reason.MALFORMED,), details=("not a PDF",))
    reader = PdfFileReader(io.BytesIO(raw), strict=False)
    signatures = reader.embedded_regular_signatures
    if not signatures:
        return PdfVerification(False, (Reason.NOT_SIGNED,))
    roots = [translate_pyca_cryptography_cert_to_asn1(item) for item in anchors]
    reasons: list[Reason] = []
    for signature in signatures:
        reasons.extend(await _problems(signature, roots, signer_subjects, now))
    first = signatures[0]
    leaf = _certificate(first.signer_cert)
    return PdfVerification(
        not reasons, tuple(dict.fromkeys(reasons)), leaf.subject.rfc4514_string(), name_of(leaf.subject),
        name_of(leaf.issuer), first.self_reported_timestamp, _document_number(reader, first),
        _text(first.sig_object.get("/Name")), _text(first.sig_object.get("/Reason")),
        _text(first.sig_object.get("/Location")), len(signatures),
    )


async def _problems(signature: EmbeddedPdfSignature, roots: list[asn1_x509.Certificate],
                    signer_subjects: Collection[str] | None, now: dt.datetime) -> list[Reason]:
    signed_at = signature.self_reported_timestamp or now
    # Validity is judged at the signing time, as for the JSON envelopes; nothing is fetched.
    context = ValidationContext(trust_roots=roots, moment=signed_at, allow_fetching=False,
                                revocation_mode="soft-fail")
    status = await async_validate_pdf_signature(signature, context, key_usage_settings=KEY_USAGE)
    reasons: list[Reason] = []
    if not status.intact:
        reasons.append(Reason.ALTERED)
    elif not status.valid:
        reasons.append(Reason.BAD_SIGNATURE)
    if _changed_after_signing(status):
        reasons.append(Reason.ALTERED)
    if signed_at > now + CLOCK_SKEW:
        reasons.append(Reason.SIGNED_IN_FUTURE)
    if status.intact and status.valid:  # an altered file says nothing trustworthy about its signer
        reasons.extend(_trust_problems(status, signature, bool(roots), signed_at))
    if signer_subjects is not None and \
            _certificate(signature.signer_cert).subject.rfc4514_string() not in signer_subjects:
        reasons.append(Reason.UNKNOWN_SIGNER)
    return reasons


def _changed_after_signing(status: PdfSignatureStatus) -> bool:
    if status.coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return False
    return status.modification_level not in HARMLESS_UPDATES or status.docmdp_ok is False


def _trust_problems(status: PdfSignatureStatus, signature: EmbeddedPdfSignature, anchored: bool,
                    signed_at: dt.datetime) -> list[Reason]:
    if status.trusted:
        return []
    if not anchored:
        return [Reason.NO_TRUST_ANCHOR]
    carried = [_certificate(signature.signer_cert),
               *(_certificate(item) for item in signature.other_embedded_certs)]
    if any(not item.not_valid_before_utc <= signed_at <= item.not_valid_after_utc for item in carried):
        return [Reason.EXPIRED]
    return [Reason.UNTRUSTED_CHAIN]


def _document_number(reader: PdfFileReader, signature: EmbeddedPdfSignature) -> str | None:
    """From the revision the signature covers: a number changed in a later update is not believed."""
    signed = reader.get_historical_resolver(signature.signed_revision)
    reference = signed.trailer_view.raw_get("/Info") if "/Info" in signed.trailer_view else None
    if not isinstance(reference, generic.IndirectObject):
        return None
    info = signed.get_object(reference.reference)  # as it was then: a plain get_object reads today's
    return _text(info.get(NUMBER_KEY)) if isinstance(info, generic.DictionaryObject) else None


def _certificate(certificate: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(certificate.dump())


def _text(value: object) -> str | None:
    return str(value) if isinstance(value, str) else None
