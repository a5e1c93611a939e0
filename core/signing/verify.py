"""Checking a signed document: integrity, signature, certificate chain, validity at signing time.

The chain is checked with `cryptography.x509.verification` (a client verifier with our own
extension policies: the web-PKI defaults for CAs, and for the signing certificate a key usage that
allows signatures instead of the web's SAN + clientAuth requirements).
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from core.signing.envelope import (
    MalformedEnvelope,
    SignedDocument,
    canonical_json,
    certificate_pem,
    sha256_hex,
)
from core.signing.raw import verify_bytes

log = logging.getLogger(__name__)
CLOCK_SKEW = dt.timedelta(minutes=5)


class Reason(StrEnum):
    MALFORMED = "malformed"  # not a readable signed document
    ALTERED = "altered"  # the document differs from what was signed
    BAD_SIGNATURE = "bad_signature"  # the signature does not match (signature, time or code changed)
    UNTRUSTED_CHAIN = "untrusted_chain"  # the certificate does not lead to the trusted root
    EXPIRED = "expired"  # a certificate was not valid at the signing time
    SIGNED_IN_FUTURE = "signed_in_future"
    UNKNOWN_SIGNER = "unknown_signer"  # trusted CA, but not a certificate of this commune
    NO_TRUST_ANCHOR = "no_trust_anchor"  # nothing configured to check the chain against
    NOT_SIGNED = "not_signed"  # a PDF that carries no signature


REASON_SUMMARY = {
    Reason.MALFORMED: "not a readable signed document",
    Reason.ALTERED: "the document was changed after it was signed",
    Reason.BAD_SIGNATURE: "the signature does not match (signature, code, time or certificate changed)",
    Reason.UNTRUSTED_CHAIN: "the certificate does not lead to the trusted root",
    Reason.EXPIRED: "a certificate was not valid at the signing time",
    Reason.SIGNED_IN_FUTURE: "the signing time is in the future",
    Reason.UNKNOWN_SIGNER: "signed by a certificate that is not this commune's",
    Reason.NO_TRUST_ANCHOR: "no trusted root configured: run `xaso keys init` or pass --trust",
    Reason.NOT_SIGNED: "the PDF carries no digital signature",
}


@dataclass(frozen=True)
class Verification:
    ok: bool
    reasons: tuple[Reason, ...]
    envelope: SignedDocument | None = None
    signer: str | None = None  # RFC 4514 subject of the signing certificate
    signer_name: str | None = None  # its common name (or organisation)
    issuer_name: str | None = None
    signed_at: dt.datetime | None = None
    details: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        env = self.envelope
        return {
            "valid": self.ok, "reasons": [str(reason) for reason in self.reasons],
            "signer": self.signer, "signer_name": self.signer_name, "issuer_name": self.issuer_name,
            "signed_at": env.signed_at if env else None, "code": env.code if env else None,
            "kind": env.kind if env else None, "document": env.document if env else None,
        }


def verify_json(raw: bytes | str, anchors: Sequence[x509.Certificate],
                signer_subjects: Collection[str] | None = None,
                now: dt.datetime | None = None) -> Verification:
    """Never raises: anything unreadable is `malformed`."""
    try:
        envelope = SignedDocument.loads(raw)
    except MalformedEnvelope as problem:
        return Verification(False, (Reason.MALFORMED,), details=(str(problem),))
    return verify(envelope, anchors, signer_subjects, now)


def verify(envelope: SignedDocument, anchors: Sequence[x509.Certificate],
           signer_subjects: Collection[str] | None = None,
           now: dt.datetime | None = None) -> Verification:
    """`anchors`: trusted roots. `signer_subjects`: when given, the signing certificate's subject
    must be one of them (a licensed CA certifies many organisations, not only this commune)."""
    try:
        return _verify(envelope, anchors, signer_subjects, now or dt.datetime.now(dt.UTC))
    except Exception as problem:  # a verifier answers "invalid", it never crashes
        log.debug("unverifiable envelope", exc_info=True)
        return Verification(False, (Reason.MALFORMED,), details=(type(problem).__name__,))


def _verify(envelope: SignedDocument, anchors: Sequence[x509.Certificate],
            signer_subjects: Collection[str] | None, now: dt.datetime) -> Verification:
    try:
        leaf = _load_canonical(envelope.certificate)
        chain = [_load_canonical(item) for item in envelope.chain]
    except ValueError as problem:
        return Verification(False, (Reason.MALFORMED,), envelope, details=(str(problem),))
    signed_at = envelope.signed_at_time
    found = Verification(False, (), envelope, leaf.subject.rfc4514_string(), name_of(leaf.subject),
                         name_of(leaf.issuer), signed_at)
    reasons: list[Reason] = []
    if not _signature_ok(envelope, leaf):
        reasons.append(Reason.BAD_SIGNATURE)
    if sha256_hex(canonical_json(envelope.document)) != envelope.document_sha256:
        reasons.append(Reason.ALTERED)
    if signed_at > now + CLOCK_SKEW:
        reasons.append(Reason.SIGNED_IN_FUTURE)
    reasons.extend(_chain_problems(leaf, chain, anchors, signed_at))
    if signer_subjects is not None and found.signer not in signer_subjects:
        reasons.append(Reason.UNKNOWN_SIGNER)
    return Verification(not reasons, tuple(dict.fromkeys(reasons)), envelope, found.signer,
                        found.signer_name, found.issuer_name, signed_at)


def _load_canonical(pem: str) -> x509.Certificate:
    # Re-encoding must give back the same text: no byte of a carried certificate may change.
    with warnings.catch_warnings():
        warnings.simplefilter("error", CryptographyDeprecationWarning)  # e.g. a negative serial number
        try:
            certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
        except CryptographyDeprecationWarning as problem:
            raise ValueError(str(problem)) from None
    if certificate_pem(certificate) != pem:
        raise ValueError("certificate is not in canonical PEM")
    return certificate


def _signature_ok(envelope: SignedDocument, leaf: x509.Certificate) -> bool:
    raw = base64.b64decode(envelope.signature, validate=True)
    return verify_bytes(leaf.public_key(), envelope.alg, envelope.signed_attributes(), raw)


def _chain_problems(leaf: x509.Certificate, chain: Sequence[x509.Certificate],
                    anchors: Sequence[x509.Certificate], at: dt.datetime) -> list[Reason]:
    if not anchors:
        return [Reason.NO_TRUST_ANCHOR]
    # Validity is judged at the signing time: a birth certificate outlives the key that signed it.
    if any(not item.not_valid_before_utc <= at <= item.not_valid_after_utc for item in (leaf, *chain)):
        return [Reason.EXPIRED]
    verifier = (PolicyBuilder().store(Store(list(anchors))).time(at).max_chain_depth(4)
                .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_EE_POLICY)
                .build_client_verifier())
    try:
        verifier.verify(leaf, list(chain))
    except VerificationError as problem:
        log.debug("chain refused: %s", problem)
        return [Reason.UNTRUSTED_CHAIN]
    return []


def _key_usage_allows_signing(policy: Any, certificate: x509.Certificate,
                              usage: x509.KeyUsage | None) -> None:
    if usage is None or not (usage.digital_signature or usage.content_commitment):
        raise ValueError("the certificate's key usage does not allow signing documents")


def _not_a_ca(policy: Any, certificate: x509.Certificate, value: x509.BasicConstraints | None) -> None:
    if value is not None and value.ca:
        raise ValueError("a CA certificate cannot sign documents")


_EE_POLICY = (ExtensionPolicy.permit_all()
              .require_present(x509.KeyUsage, Criticality.AGNOSTIC, _key_usage_allows_signing)
              .may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, _not_a_ca))


def name_of(name: x509.Name) -> str | None:
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        values = name.get_attributes_for_oid(oid)
        if values:
            value = values[0].value
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return None
