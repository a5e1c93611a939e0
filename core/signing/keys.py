"""The commune's keys under `XASO_VAR_DIR/keys/`: made here (a commune root CA and a signing
certificate it issues), issued by the province's CA, or imported from a licensed CA; loaded into a
`Keyring` at start.

Files: `signing.key` (600), `signing.pem`, `chain.pem` (the issuers up to the root), `root-ca.pem`
(the trust anchor) and, for a self-made CA only, `root-ca.key` (600). Replaced keys move to
`retired/`, whose roots stay trusted so that results signed before the change still verify;
delete a retired file to stop trusting it (e.g. after a key leak).

A province (core/province.py) keeps its own root CA in `keys/province/` (`root-ca.key`, 600, and
`root-ca.pem`) and issues each commune's signing certificate into `keys/communes/<code>/`, with the
province root as `root-ca.pem` and also as `province-ca.pem`: a commune's keyring then accepts what any
commune of the province signed, whereas a licensed CA's root only vouches for the commune's own
certificates.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from core.signing.envelope import Signer, SigningKey, certificate_pem
from core.signing.verify import Reason, Verification, verify_json

if TYPE_CHECKING:
    from core.signing.pdf import PdfVerification

log = logging.getLogger(__name__)
ROOT_KEY, ROOT_CERT = "root-ca.key", "root-ca.pem"
SIGNING_KEY, SIGNING_CERT, CHAIN = "signing.key", "signing.pem", "chain.pem"
PROVINCE_ROOT = "province-ca.pem"
PROVINCE_DIR = "province"
# Who runs a province's CA unless the operator names it: the department in charge of digital signatures.
PROVINCE_CA_OWNER = "Sở Khoa học và Công nghệ"
RETIRED = "retired"
# A province root does not vouch for the signer: its chain fails, or nothing could be read.
UNCERTIFIED = frozenset({Reason.UNTRUSTED_CHAIN, Reason.EXPIRED, Reason.NO_TRUST_ANCHOR, Reason.MALFORMED})
ROOT_DAYS, SIGNING_DAYS = 20 * 365, 3 * 365


class KeysExist(FileExistsError):
    pass


class KeysMissing(FileNotFoundError):
    pass


class KeyImportError(ValueError):
    pass


@dataclass(frozen=True)
class KeySet:
    key: SigningKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # issuers, ending with the root
    root: x509.Certificate

    def signer(self) -> Signer:
        return Signer(self.key, self.certificate, self.chain)


def create_commune_keys(keys_dir: Path, commune_name: str, *, force: bool = False,
                        now: dt.datetime | None = None, signing_days: int = SIGNING_DAYS) -> KeySet:
    _refuse_overwrite(keys_dir, force)
    start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{commune_name} - CA gốc", commune_name)
    root = (_builder(root_name, root_name, root_key.public_key(), root_key.public_key(), start, ROOT_DAYS)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .sign(root_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (_builder(_name(commune_name, commune_name), root_name, key.public_key(),
                            root_key.public_key(), start, signing_days)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(_usage(digital_signature=True, content_commitment=True), critical=True)
                   .sign(root_key, hashes.SHA256()))
    keys = KeySet(key, certificate, (root,), root)
    _write_keys(keys_dir, keys, root_key)
    return keys


@dataclass(frozen=True)
class ProvinceCA:
    """The province's root CA, which issues its communes' signing certificates."""

    key: ec.EllipticCurvePrivateKey
    root: x509.Certificate


def province_keys_dir(var_dir: Path) -> Path:
    return var_dir / "keys" / PROVINCE_DIR


def province_ca_name(province: str) -> str:
    """The default name of `province`'s CA ("Sở Khoa học và Công nghệ tỉnh Thái Nguyên")."""
    return f"{PROVINCE_CA_OWNER} {province}"


def create_province_ca(folder: Path, name: str, province: str = "", *, force: bool = False,
                       now: dt.datetime | None = None) -> ProvinceCA:
    """`name`: who runs it ("Sở Khoa học và Công nghệ tỉnh Thái Nguyên"); `province` its province.
    A replaced root moves to `retired/`; the communes it certified keep trusting it (their own copy)."""
    existing = [item for item in (ROOT_KEY, ROOT_CERT) if (folder / item).exists()]
    if existing and not force:
        raise KeysExist(f"a province CA already exists in {folder} ({', '.join(existing)}); use --force "
                        "to replace it (the communes it certified keep their keys until issued again)")
    start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(f"{name} - CA gốc", name, province)
    root = (_builder(subject, subject, key.public_key(), key.public_key(), start, ROOT_DAYS)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .sign(key, hashes.SHA256()))
    _private_folder(folder)
    _retire(folder)
    _write(folder / ROOT_KEY, _private_pem(key), 0o600)
    _write(folder / ROOT_CERT, certificate_pem(root).encode(), 0o644)
    return ProvinceCA(key, root)


def load_province_ca(folder: Path) -> ProvinceCA:
    if not (folder / ROOT_KEY).exists() or not (folder / ROOT_CERT).exists():
        raise KeysMissing(f"no province CA in {folder}: run `xaso keys init --province`")
    key = serialization.load_pem_private_key((folder / ROOT_KEY).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{folder / ROOT_KEY}: unsupported key type")
    return ProvinceCA(key, x509.load_pem_x509_certificate((folder / ROOT_CERT).read_bytes()))


def issue_commune_keys(folder: Path, ca: ProvinceCA, commune_name: str, *, force: bool = False,
                       now: dt.datetime | None = None, signing_days: int = SIGNING_DAYS) -> KeySet:
    """A signing key for the commune and its certificate ("UBND Xã Sảng Mộc") issued by the province
    CA, written to `folder` (the commune's keys_dir) with the province root as its trust anchor."""
    _refuse_overwrite(folder, force)
    start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)
    key = ec.generate_private_key(ec.SECP256R1())
    province = _attribute(ca.root.subject, NameOID.STATE_OR_PROVINCE_NAME)
    certificate = (_builder(_name(f"UBND {commune_name}", commune_name, province), ca.root.subject,
                            key.public_key(), ca.key.public_key(), start, signing_days)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(_usage(digital_signature=True, content_commitment=True), critical=True)
                   .sign(ca.key, hashes.SHA256()))
    keys = KeySet(key, certificate, (ca.root,), ca.root)
    _write_keys(folder, keys, None)
    _write(folder / PROVINCE_ROOT, certificate_pem(ca.root).encode(), 0o644)
    return keys


def keep_trusting(folder: Path, old: Path) -> int:
    """The certificates `old` signed with (its current and retired roots and signing certificates),
    retired into `folder`: what the commune signed from `old` still verifies once it signs from
    `folder`. Returns how many were kept."""
    suffixes = ("-" + ROOT_CERT, "-" + SIGNING_CERT)
    found = [old / name for name in (ROOT_CERT, SIGNING_CERT) if (old / name).exists()]
    if (old / RETIRED).is_dir():
        found += [path for path in sorted((old / RETIRED).iterdir()) if path.name.endswith(suffixes)]
    if not found:
        return 0
    (folder / RETIRED).mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    for number, path in enumerate(found):
        name = path.name if path.parent.name == RETIRED else f"{stamp}-{number}-{path.name}"
        _write(folder / RETIRED / name, path.read_bytes(), 0o644)
    return len(found)


def import_licensed_keys(keys_dir: Path, cert_pem: bytes, key_pem: bytes, chain_pem: bytes | None, *,
                         force: bool = False, password: bytes | None = None) -> KeySet:
    """A licensed CA's certificate and key; `chain_pem` holds its issuers and must include the root."""
    _refuse_overwrite(keys_dir, force)
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=password)
        chain = tuple(x509.load_pem_x509_certificates(chain_pem)) if chain_pem else ()
    except (ValueError, TypeError) as problem:
        raise KeyImportError(f"cannot read the PEM files: {problem}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise KeyImportError("the key must be ECDSA P-256 or RSA")
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name != "secp256r1":
        raise KeyImportError("an ECDSA key must be on the P-256 curve")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
        raise KeyImportError("an RSA key must have at least 2048 bits")
    roots = [item for item in chain if item.issuer == item.subject]
    if not roots:
        raise KeyImportError("--chain must contain the CA's root certificate (self-signed)")
    try:
        keys = KeySet(key, certificate, chain, roots[-1])
        probe = keys.signer().sign({"probe": True}, kind="probe")
    except (ValueError, RuntimeError) as problem:
        raise KeyImportError(str(problem)) from None
    checked = verify_json(probe.dumps(), [keys.root])
    if not checked.ok:
        raise KeyImportError("the certificate does not verify against the chain: "
                             + ", ".join(checked.reasons))
    _write_keys(keys_dir, keys, None)
    return keys


def load_keys(keys_dir: Path) -> KeySet:
    paths = [keys_dir / name for name in (SIGNING_KEY, SIGNING_CERT, ROOT_CERT)]
    if not all(path.exists() for path in paths):
        raise KeysMissing(f"no signing keys in {keys_dir}: run `xaso keys init`")
    key = serialization.load_pem_private_key(paths[0].read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{paths[0]}: unsupported key type")
    chain_path = keys_dir / CHAIN
    chain = tuple(x509.load_pem_x509_certificates(chain_path.read_bytes())) if chain_path.exists() else ()
    return KeySet(key, x509.load_pem_x509_certificate(paths[1].read_bytes()), chain,
                  x509.load_pem_x509_certificate(paths[2].read_bytes()))


@dataclass
class Keyring:
    """What the running service signs with and trusts; empty until `load`."""

    signer: Signer | None = None
    anchors: list[x509.Certificate] = field(default_factory=list)
    signer_subjects: set[str] = field(default_factory=set)
    # Roots of the province CA that issued the commune's certificate: any commune it certified is trusted.
    province_roots: list[x509.Certificate] = field(default_factory=list)

    def load(self, keys_dir: Path) -> None:
        self.signer, self.anchors, self.signer_subjects, self.province_roots = None, [], set(), []
        try:
            keys = load_keys(keys_dir)
        except KeysMissing:
            return
        self.signer = keys.signer()
        self.anchors = [keys.root, *_retired(keys_dir, "-" + ROOT_CERT)]
        self.signer_subjects = {item.subject.rfc4514_string()
                                for item in (keys.certificate, *_retired(keys_dir, "-" + SIGNING_CERT))}
        province = keys_dir / PROVINCE_ROOT
        if province.exists():
            self.province_roots = [x509.load_pem_x509_certificate(province.read_bytes())]

    @classmethod
    def combined(cls, keyrings: Sequence[Keyring]) -> Keyring:
        """What several communes' keyrings trust together (a province's `xaso verify`); signs nothing."""
        merged = cls()
        for keyring in keyrings:
            merged.anchors += [item for item in keyring.anchors if item not in merged.anchors]
            merged.signer_subjects |= keyring.signer_subjects
            merged.province_roots += [item for item in keyring.province_roots
                                      if item not in merged.province_roots]
        return merged

    def verify(self, raw: bytes | str) -> Verification:
        checked = verify_json(raw, self.anchors, self.signer_subjects or None)
        if Reason.UNKNOWN_SIGNER not in checked.reasons or not self.province_roots:
            return checked
        by_province = verify_json(raw, self.province_roots)  # another commune of the province signed it?
        return checked if UNCERTIFIED.intersection(by_province.reasons) else by_province

    async def verify_pdf(self, raw: bytes) -> PdfVerification:
        from core.signing.pdf import verify_pdf  # pyHanko is slow to import: only when a PDF is checked

        checked = await verify_pdf(raw, self.anchors, self.signer_subjects or None)
        if Reason.UNKNOWN_SIGNER not in checked.reasons or not self.province_roots:
            return checked
        by_province = await verify_pdf(raw, self.province_roots)
        return checked if UNCERTIFIED.intersection(by_province.reasons) else by_province

    def signs_as(self, subject: str | None) -> bool:
        """Whether `subject` (RFC 4514) is one of this commune's signing certificates, current or retired."""
        return subject is not None and subject in self.signer_subjects


def signing_certificates(keys_dir: Path) -> list[x509.Certificate]:
    """The commune's signing certificates, the current one first, then the retired ones still kept:
    whose keys signed what this installation signed (the audit log's checkpoints are checked with them)."""
    current = keys_dir / SIGNING_CERT
    own = [x509.load_pem_x509_certificate(current.read_bytes())] if current.exists() else []
    return own + _retired(keys_dir, "-" + SIGNING_CERT)


def _retired(keys_dir: Path, suffix: str) -> list[x509.Certificate]:
    folder = keys_dir / RETIRED
    if not folder.is_dir():
        return []
    return [x509.load_pem_x509_certificate(path.read_bytes())
            for path in sorted(folder.iterdir()) if path.name.endswith(suffix)]


def _refuse_overwrite(keys_dir: Path, force: bool) -> None:
    names = (SIGNING_KEY, SIGNING_CERT, ROOT_CERT, ROOT_KEY)
    existing = [name for name in names if (keys_dir / name).exists()]
    if existing and not force:
        raise KeysExist(f"keys already exist in {keys_dir} ({', '.join(existing)}); "
                        "use --force to replace them (the old root stays trusted for old documents)")


def _private_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)


def _write_keys(keys_dir: Path, keys: KeySet, root_key: SigningKey | None) -> None:
    _private_folder(keys_dir)
    _retire(keys_dir)
    _write(keys_dir / SIGNING_KEY, _private_pem(keys.key), 0o600)
    if root_key is not None:
        _write(keys_dir / ROOT_KEY, _private_pem(root_key), 0o600)
    _write(keys_dir / SIGNING_CERT, certificate_pem(keys.certificate).encode(), 0o644)
    _write(keys_dir / CHAIN, "".join(certificate_pem(item) for item in keys.chain).encode(), 0o644)
    _write(keys_dir / ROOT_CERT, certificate_pem(keys.root).encode(), 0o644)


def _retire(keys_dir: Path) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    for name in (ROOT_CERT, SIGNING_CERT):
        if (keys_dir / name).exists():
            (keys_dir / RETIRED).mkdir(exist_ok=True, mode=0o700)
            os.replace(keys_dir / name, keys_dir / RETIRED / f"{stamp}-{name}")
    for name in (SIGNING_KEY, ROOT_KEY):
        (keys_dir / name).unlink(missing_ok=True)  # a replaced private key is not kept


def _write(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def _private_pem(key: SigningKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str, organisation: str, province: str = "") -> x509.Name:
    where = [x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, province)] if province else []
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), *where,
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    value = values[0].value if values else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _builder(subject: x509.Name, issuer: x509.Name, public: ec.EllipticCurvePublicKey,
             issuer_public: ec.EllipticCurvePublicKey, start: dt.datetime,
             days: int) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False))


def _usage(*, digital_signature: bool = False, content_commitment: bool = False, key_cert_sign: bool = False,
           crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=digital_signature, content_commitment=content_commitment,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=key_cert_sign, crl_sign=crl_sign, encipher_only=False,
                         decipher_only=False)

