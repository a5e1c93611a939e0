"""Signatures over plain bytes with the commune's key, as JWS names them: ES256 (ECDSA P-256 with
SHA-256, the signature as r ‖ s, 64 bytes) or RS256 (RSA PKCS#1 v1.5 with SHA-256).

The signed envelopes (`envelope`, `verify`) and the audit log's checkpoints (core/audit_checkpoints.py)
both sign this way. A key is named by its `key_id`: the SHA-256 of its SubjectPublicKeyInfo, the same
for the key and for every certificate issued to it.
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

ES256_PART = 32  # bytes of r and of s for P-256
ALGORITHMS = ("ES256", "RS256")

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def algorithm_of(key: SigningKey | PublicKey) -> str:
    return "ES256" if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) else "RS256"


def sign_bytes(key: SigningKey, data: bytes) -> tuple[str, bytes]:
    """(algorithm, signature) of `data`."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return "ES256", r.to_bytes(ES256_PART, "big") + s.to_bytes(ES256_PART, "big")  # fixed size
    return "RS256", key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def verify_bytes(key: object, alg: str, data: bytes, signature: bytes) -> bool:
    """True when `signature` is `key`'s over `data` with `alg`; False too for a key that does not fit
    the algorithm (an ES256 signature needs a P-256 key)."""
    try:
        if alg == "ES256":
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1" \
                    or len(signature) != 2 * ES256_PART:
                return False
            r = int.from_bytes(signature[:ES256_PART], "big")
            s = int.from_bytes(signature[ES256_PART:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
        elif alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


def key_id(key: x509.Certificate | SigningKey | PublicKey) -> str:
    """The SHA-256 (hex) of the public key's DER SubjectPublicKeyInfo."""
    if isinstance(key, x509.Certificate):
        public = key.public_key()
    elif isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        public = key.public_key()
    else:
        public = key
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()
