"""Signed documents: canonical JSON, the envelope format and the signer.

What the signature covers is a small canonical JSON of "signed attributes" (as CMS does): the
format, algorithm, code, kind, signing time, the SHA-256 of the canonical document and of every
certificate carried. So nothing in an envelope can change unnoticed, and a verifier can tell an
altered document (signature good, digest differs) from a broken signature.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from core.signing.raw import SigningKey as SigningKey
from core.signing.raw import algorithm_of, sign_bytes

FORMAT = "xaso-signed/1"
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, no 1/I: read aloud or typed from paper
CODE_LENGTH = 10
CODE_PATTERN = re.compile(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")
KIND_PATTERN = re.compile(r"[a-z0-9_.-]{1,32}")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
TIME_PATTERN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
MAX_CHAIN = 8


class MalformedEnvelope(ValueError):
    """Not a signed document this format knows: wrong shape, types or encodings."""


class SigningError(RuntimeError):
    """The signer cannot sign now (e.g. its certificate is not valid at this time)."""


def canonical_json(value: Any) -> bytes:
    """Sorted keys, UTF-8, no whitespace, strings in NFC: a Vietnamese text re-saved in decomposed
    form by some editor still verifies, because it is the same text."""
    return json.dumps(_nfc(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("JSON object keys must be strings")
            name = unicodedata.normalize("NFC", key)
            if name in out:
                raise ValueError(f"two keys read the same: {name!r}")
            out[name] = _nfc(item)
        return out
    if isinstance(value, list | tuple):
        return [_nfc(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    raise TypeError(f"not JSON: {type(value).__name__}")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def format_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=dt.UTC)


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass(frozen=True)
class SignedDocument:
    code: str
    kind: str
    signed_at: str
    document: dict[str, Any]
    document_sha256: str
    alg: str
    signature: str  # base64
    certificate: str  # PEM of the signing certificate
    chain: tuple[str, ...] = field(default=())  # PEM, issuers of the signing certificate up to the root

    @property
    def signed_at_time(self) -> dt.datetime:
        return parse_time(self.signed_at)

    def signed_attributes(self) -> bytes:
        return signed_attributes(self.alg, self.code, self.kind, self.signed_at, self.document_sha256,
                                 [self.certificate, *self.chain])

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "code": self.code, "kind": self.kind, "signed_at": self.signed_at,
            "document": self.document, "document_sha256": self.document_sha256,
            "signature": {"alg": self.alg, "value": self.signature},
            "certificate": self.certificate, "chain": list(self.chain),
        }

    def dumps(self, indent: int | None = None) -> str:
        separators = (",", ": ") if indent else (",", ":")
        return json.dumps(self.to_json(), ensure_ascii=False, indent=indent, separators=separators)

    @classmethod
    def loads(cls, raw: bytes | str) -> SignedDocument:
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as problem:
            raise MalformedEnvelope(f"not JSON: {problem}") from None
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data: Any) -> SignedDocument:
        _expect(isinstance(data, dict), "the envelope is not a JSON object")
        _expect(set(data) == {"format", "code", "kind", "signed_at", "document", "document_sha256",
                              "signature", "certificate", "chain"}, "unexpected or missing fields")
        _expect(data["format"] == FORMAT, "unknown format")
        _expect(_matches(CODE_PATTERN, data["code"]), "bad code")
        _expect(_matches(KIND_PATTERN, data["kind"]), "bad kind")
        _expect(_matches(TIME_PATTERN, data["signed_at"]), "bad signing time")
        try:
            parse_time(data["signed_at"])
        except ValueError:
            raise MalformedEnvelope("bad signing time") from None
        _expect(isinstance(data["document"], dict), "the document is not a JSON object")
        _expect(_matches(re.compile("[0-9a-f]{64}"), data["document_sha256"]), "bad document digest")
        signature = data["signature"]
        _expect(isinstance(signature, dict) and set(signature) == {"alg", "value"}, "bad signature field")
        _expect(signature["alg"] in ("ES256", "RS256"), "unknown signature algorithm")
        _expect(isinstance(signature["value"], str) and _canonical_base64(signature["value"]),
                "bad signature encoding")
        chain = data["chain"]
        _expect(isinstance(data["certificate"], str), "bad certificate")
        _expect(isinstance(chain, list) and len(chain) <= MAX_CHAIN
                and all(isinstance(item, str) for item in chain), "bad chain")
        return cls(code=data["code"], kind=data["kind"], signed_at=data["signed_at"],
                   document=data["document"], document_sha256=data["document_sha256"],
                   alg=signature["alg"], signature=signature["value"], certificate=data["certificate"],
                   chain=tuple(chain))


def signed_attributes(alg: str, code: str, kind: str, signed_at: str, document_sha256: str,
                      certificates_pem: Sequence[str]) -> bytes:
    return canonical_json({
        "format": FORMAT, "alg": alg, "code": code, "kind": kind, "signed_at": signed_at,
        "document_sha256": document_sha256,
        "certificates_sha256": [sha256_hex(pem.encode("utf-8")) for pem in certificates_pem],
    })


def sign_envelope(key: SigningKey, certificate: x509.Certificate, chain: Sequence[x509.Certificate],
                  document: Mapping[str, Any], *, kind: str, code: str,
                  signed_at: dt.datetime) -> SignedDocument:
    """The raw operation, with no validity checks (tests use it to forge edge cases)."""
    body = _nfc(document)
    alg = algorithm_of(key)
    unsigned = SignedDocument(code=code, kind=kind, signed_at=format_time(signed_at), document=body,
                              document_sha256=sha256_hex(canonical_json(body)), alg=alg, signature="",
                              certificate=certificate_pem(certificate),
                              chain=tuple(certificate_pem(item) for item in chain))
    _, raw = sign_bytes(key, unsigned.signed_attributes())
    return SignedDocument(**{**unsigned.__dict__, "signature": base64.b64encode(raw).decode("ascii")})


class Signer:
    """Signs documents with the commune's key; refuses once its certificate is out of validity."""

    def __init__(self, key: SigningKey, certificate: x509.Certificate,
                 chain: Sequence[x509.Certificate] = (),
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        certified = certificate.public_key()
        if (not isinstance(certified, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
                or key.public_key().public_numbers() != certified.public_numbers()):
            raise ValueError("the private key does not belong to the certificate")
        self.key = key
        self.certificate = certificate
        self.chain = tuple(chain)
        self.clock = clock

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    def check_valid(self, now: dt.datetime) -> None:
        """Raises `SigningError` when a certificate of the chain is not valid at `now`."""
        for item in (self.certificate, *self.chain):
            if not item.not_valid_before_utc <= now <= item.not_valid_after_utc:
                raise SigningError(f"certificate {item.subject.rfc4514_string()} is not valid now: "
                                   "run `xaso keys init --force` or import a new one")

    def sign(self, document: Mapping[str, Any], *, kind: str, code: str | None = None) -> SignedDocument:
        if not KIND_PATTERN.fullmatch(kind):
            raise ValueError("kind: 1 to 32 of a-z 0-9 _ . -")
        now = self.clock().replace(microsecond=0)
        self.check_valid(now)
        return sign_envelope(self.key, self.certificate, self.chain, document, kind=kind,
                             code=code or new_code(), signed_at=now)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise MalformedEnvelope(message)


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _canonical_base64(text: str) -> bool:
    try:
        return base64.b64encode(base64.b64decode(text, validate=True)).decode("ascii") == text
    except (binascii.Error, ValueError):
        return False


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which duplicate wins; an envelope that has any is refused.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
