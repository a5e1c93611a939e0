"""core.signing: keys, signing, verification and the tamper cases of SECURITY.md ("Signatures out")."""

from __future__ import annotations

import base64
import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.db import Database
from core.signing import (
    KeyImportError,
    Keyring,
    KeySet,
    KeysExist,
    Reason,
    SignedDocument,
    SigningError,
    canonical_json,
    create_commune_keys,
    find_signed,
    import_licensed_keys,
    load_keys,
    sign_and_store,
    verify,
    verify_json,
)
from core.signing.envelope import CODE_PATTERN, sign_envelope

COMMUNE = "Xã La Bằng"
DOCUMENT = {"title": "Giấy khai sinh", "họ tên": "Nguyễn Thị Hoà", "ngày sinh": "01/02/2026",
            "số": 12, "kèm": ["bản sao", True, None], "nơi": {"thôn": "Làng Sắn"}}


@pytest.fixture
def keys(tmp_path: Path) -> KeySet:
    return create_commune_keys(tmp_path / "keys", COMMUNE)


def test_keys_init_writes_files_with_private_modes(tmp_path: Path, keys: KeySet) -> None:
    folder = tmp_path / "keys"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("signing.key", "root-ca.key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    for name in ("signing.pem", "root-ca.pem", "chain.pem"):
        assert (folder / name).is_file()
    loaded = load_keys(folder)
    assert loaded.certificate == keys.certificate and loaded.root == keys.root
    root_constraints = keys.root.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert root_constraints.ca
    assert keys.root.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    usage = keys.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert keys.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == COMMUNE
    assert isinstance(keys.certificate.public_key(), ec.EllipticCurvePublicKey)
    assert keys.certificate.public_key().curve.name == "secp256r1"


def test_keys_init_refuses_to_overwrite_without_force(tmp_path: Path, keys: KeySet) -> None:
    folder = tmp_path / "keys"
    before = (folder / "signing.key").read_bytes()
    with pytest.raises(KeysExist):
        create_commune_keys(folder, COMMUNE)
    assert (folder / "signing.key").read_bytes() == before
    old = keys.signer().sign(DOCUMENT, kind="dossier_result")
    create_commune_keys(folder, COMMUNE, force=True)
    assert (folder / "signing.key").read_bytes() != before
    keyring = Keyring()
    keyring.load(folder)
    # The replaced root is retired, not forgotten: what it signed still verifies.
    assert keyring.verify(old.dumps()).ok
    assert keyring.verify(keyring.signer.sign(DOCUMENT, kind="x").dumps()).ok  # type: ignore[union-attr]


def test_round_trip(keys: KeySet) -> None:
    envelope = keys.signer().sign(DOCUMENT, kind="dossier_result")
    assert CODE_PATTERN.fullmatch(envelope.code)
    checked = verify_json(envelope.dumps(indent=2), [keys.root])
    assert checked.ok and checked.reasons == ()
    assert checked.signer_name == COMMUNE
    assert checked.envelope is not None and checked.envelope.document == DOCUMENT
    assert abs(checked.signed_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)  # type: ignore[operator]


def test_canonical_json_is_sorted_compact_utf8_nfc() -> None:
    assert canonical_json({"b": 1, "a": "Hoà"}) == '{"a":"Hoà","b":1}'.encode()
    decomposed = {"tên": "Nguye\u0302\u0303n"}
    assert canonical_json(decomposed) == canonical_json({"tên": "Nguyễn"})


def test_every_single_byte_change_is_refused(keys: KeySet) -> None:
    text = keys.signer().sign(DOCUMENT, kind="dossier_result").dumps().encode()
    for index in range(len(text)):
        for flip in (0x01, 0x20):
            mutated = text[:index] + bytes([text[index] ^ flip]) + text[index + 1:]
            checked = verify_json(mutated, [keys.root])
            assert not checked.ok, (index, mutated[max(0, index - 20):index + 20])


def test_document_change_is_reported_as_altered(keys: KeySet) -> None:
    envelope = keys.signer().sign(DOCUMENT, kind="dossier_result")
    data = envelope.to_json()
    data["document"]["họ tên"] = "Nguyễn Thị Hòa Bình"
    checked = verify_json(json.dumps(data), [keys.root])
    assert not checked.ok and checked.reasons == (Reason.ALTERED,)


@pytest.mark.parametrize("field", ["signature", "signed_at", "code", "certificate"])
def test_signature_and_certificate_changes_are_refused(tmp_path: Path, keys: KeySet, field: str) -> None:
    envelope = keys.signer().sign(DOCUMENT, kind="dossier_result")
    data = envelope.to_json()
    if field == "signature":
        raw = bytearray(base64.b64decode(data["signature"]["value"]))
        raw[5] ^= 0x01
        data["signature"]["value"] = base64.b64encode(bytes(raw)).decode()
    elif field == "signed_at":
        data["signed_at"] = "2026-01-01T00:00:00Z"
    elif field == "code":
        data["code"] = "ABCDEFGHJK"
    else:  # a certificate re-issued for the same key by another CA is a different certificate
        other = create_commune_keys(tmp_path / "other", COMMUNE)
        forged = rebuild_certificate(keys, other)
        data["certificate"] = forged.public_bytes(serialization.Encoding.PEM).decode()
    checked = verify_json(json.dumps(data), [keys.root])
    assert not checked.ok
    assert Reason.BAD_SIGNATURE in checked.reasons


def test_unreadable_input_is_malformed_not_an_exception(keys: KeySet) -> None:
    for raw in (b"", b"\xff\xfe", b"[]", b"{}", b'{"format": 1}', b"null", b"1e999999", b"[" * 100000):
        checked = verify_json(raw, [keys.root])
        assert not checked.ok and checked.reasons == (Reason.MALFORMED,)
    text = keys.signer().sign(DOCUMENT, kind="k").dumps()
    duplicated = text[:-1] + ',"kind":"k"}'
    assert verify_json(duplicated, [keys.root]).reasons == (Reason.MALFORMED,)


def test_document_signed_by_another_ca_is_untrusted(tmp_path: Path, keys: KeySet) -> None:
    stranger = create_commune_keys(tmp_path / "stranger", COMMUNE)  # same names, other keys
    envelope = stranger.signer().sign(DOCUMENT, kind="dossier_result")
    checked = verify_json(envelope.dumps(), [keys.root])
    assert not checked.ok and checked.reasons == (Reason.UNTRUSTED_CHAIN,)
    assert verify_json(envelope.dumps(), []).reasons == (Reason.NO_TRUST_ANCHOR,)


def test_expired_certificate(tmp_path: Path) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    old = create_commune_keys(tmp_path / "old", COMMUNE, now=past, signing_days=10)
    with pytest.raises(SigningError):
        old.signer().sign(DOCUMENT, kind="dossier_result")
    late = sign_envelope(old.key, old.certificate, old.chain, DOCUMENT, kind="dossier_result",
                         code="ABCDEFGHJK", signed_at=dt.datetime.now(dt.UTC))
    checked = verify(late, [old.root])
    assert not checked.ok and checked.reasons == (Reason.EXPIRED,)
    # Signed while the certificate was valid: still valid after it expired.
    in_time = sign_envelope(old.key, old.certificate, old.chain, DOCUMENT, kind="dossier_result",
                            code="ABCDEFGHJK", signed_at=past + dt.timedelta(days=1))
    assert verify(in_time, [old.root]).ok


def test_signing_time_in_the_future_is_refused(keys: KeySet) -> None:
    future = sign_envelope(keys.key, keys.certificate, keys.chain, DOCUMENT, kind="k", code="ABCDEFGHJK",
                           signed_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
    assert Reason.SIGNED_IN_FUTURE in verify(future, [keys.root]).reasons


def test_import_licensed_certificate(tmp_path: Path) -> None:
    root_key, root = make_ca("Licensed Root CA")
    sub_key, sub = make_ca("Licensed Issuing CA", issuer=(root_key, root))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_leaf(COMMUNE, leaf_key, (sub_key, sub))
    chain = pem(sub) + pem(root)
    folder = tmp_path / "keys"
    with pytest.raises(KeyImportError):
        import_licensed_keys(folder, pem(leaf), private_pem(leaf_key), pem(sub))  # no root
    with pytest.raises(KeyImportError):
        import_licensed_keys(folder, pem(leaf), private_pem(ec.generate_private_key(ec.SECP256R1())), chain)
    import_licensed_keys(folder, pem(leaf), private_pem(leaf_key), chain)
    assert not (folder / "root-ca.key").exists()
    assert stat.S_IMODE((folder / "signing.key").stat().st_mode) == 0o600
    keyring = Keyring()
    keyring.load(folder)
    assert keyring.signer is not None
    envelope = keyring.signer.sign(DOCUMENT, kind="dossier_result")
    assert len(envelope.chain) == 2
    assert keyring.verify(envelope.dumps()).ok
    # The same licensed CA certifies other organisations: their documents are not the commune's.
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = make_leaf("Công ty Khác", other_key, (sub_key, sub))
    foreign = sign_envelope(other_key, other, (sub, root), DOCUMENT, kind="k", code="ABCDEFGHJK",
                            signed_at=dt.datetime.now(dt.UTC))
    assert keyring.verify(foreign.dumps()).reasons == (Reason.UNKNOWN_SIGNER,)
    assert verify(foreign, [root]).ok  # trusting the root alone would accept it


async def test_sign_and_store(database: Database, keys: KeySet) -> None:
    async with database.session() as session:
        record = await sign_and_store(session, keys.signer(), "dossier_result", "LB-2026-000001", DOCUMENT)
    assert record.verify_url("https://xa.example/") == f"https://xa.example/verify/{record.code}"
    async with database.session() as session:
        found = await find_signed(session, record.code.lower()[:4] + "-" + record.code[4:])
    assert found is not None and found.subject == "LB-2026-000001"
    assert isinstance(found.envelope(), SignedDocument)
    assert verify_json(found.envelope_json, [keys.root]).ok
    async with database.session() as session:
        assert await find_signed(session, "NOPE") is None


# --- helpers -----------------------------------------------------------------------------------------

def rebuild_certificate(keys: KeySet, other: KeySet) -> x509.Certificate:
    """The signing certificate's key certified again by another CA."""
    return make_leaf(COMMUNE, keys.key, (other.key, other.root))  # type: ignore[arg-type]


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _base(subject: str, public: ec.EllipticCurvePublicKey, issuer_name: x509.Name,
          issuer_public: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
            .public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False))


def _usage(**flags: bool) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{name: flags.get(name, False) for name in names})


def make_ca(name: str, issuer: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None,
            ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    signing_key, issuer_name = (issuer[0], issuer[1].subject) if issuer else (key, _name(name))
    certificate = (_base(name, key.public_key(), issuer_name, signing_key.public_key())
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
                   .sign(signing_key, hashes.SHA256()))
    return key, certificate


def make_leaf(name: str, key: ec.EllipticCurvePrivateKey,
              issuer: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]) -> x509.Certificate:
    return (_base(name, key.public_key(), issuer[1].subject, issuer[0].public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(digital_signature=True, content_commitment=True), critical=True)
            .sign(issuer[0], hashes.SHA256()))
