"""Field-level encryption (AES-256-GCM) and keyed hashing, all derived from XASO_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1:"


def derive_key(secret: bytes, purpose: str, length: int = 32) -> bytes:
    """Separate keys per purpose, so one leaked use does not expose the others."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=b"xaso", info=purpose.encode()).derive(secret)


class FieldCipher:
    def __init__(self, secret: bytes) -> None:
        self._aead = AESGCM(derive_key(secret, "field-encryption"))

    def encrypt(self, plaintext: str, context: str = "") -> str:
        """`context` (e.g. "users.phone") is bound as associated data: a value moved to another
        column does not decrypt there."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, context: str = "") -> str:
        if not token.startswith(_PREFIX):
            raise ValueError("unknown ciphertext format")
        raw = base64.urlsafe_b64decode(token[len(_PREFIX):])
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()


    def encrypt_bytes(self, data: bytes, context: str = "") -> bytes:
        """Files (health photos): nonce ‖ ciphertext, `context` bound as associated data."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, context.encode())

    def decrypt_bytes(self, sealed: bytes, context: str = "") -> bytes:
        return self._aead.decrypt(sealed[:12], sealed[12:], context.encode())


class Hasher:
    """Keyed digests for looking things up without storing them (tokens, invite codes)."""

    def __init__(self, secret: bytes) -> None:
        self._key = derive_key(secret, "lookup-hash")

    def digest(self, value: str) -> str:
        return hmac.new(self._key, _utf8(value), hashlib.sha256).hexdigest()

    def sign(self, message: str) -> str:
        return hmac.new(self._key, b"sig:" + _utf8(message), hashlib.sha256).hexdigest()[:32]

    def verify(self, message: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(message).encode("ascii"), _utf8(signature))


def _utf8(text: str) -> bytes:
    """UTF-8 that never raises: the lone surrogates of raw header bytes (aiohttp decodes them with
    `surrogateescape`) are kept as bytes no valid text encodes to, so they match nothing. Text without
    them encodes exactly as before."""
    return text.encode("utf-8", "surrogatepass")
