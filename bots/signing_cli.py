"""`xaso keys init`, `xaso keys issue CODE…` (a province CA certifies its communes) and
`xaso verify FILE`."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from cryptography import x509

from core.commune import CommuneError
from core.config import Settings
from core.province import COMMUNES_DIR, Province, ProvinceError
from core.province import keys_dir as commune_keys_dir
from core.signing import (
    KeyImportError,
    Keyring,
    KeySet,
    KeysExist,
    KeysMissing,
    Reason,
    Verification,
    create_commune_keys,
    create_province_ca,
    import_licensed_keys,
    issue_commune_keys,
    keep_trusting,
    load_province_ca,
    province_keys_dir,
    verify_url,
)
from core.signing.keys import province_ca_name
from core.signing.verify import REASON_SUMMARY
from core.timezones import VIETNAM

if TYPE_CHECKING:
    from core.signing.pdf import PdfVerification

EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2
EXIT_USAGE = 2
PDF_MAGIC = b"%PDF-"


def keys_dir(settings: Settings) -> Path:
    return settings.var_dir / "keys"


def keys_init(settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    folder = keys_dir(settings)
    if bool(args.import_cert) != bool(args.import_key):
        print("xaso keys init: --import-cert and --import-key go together", file=err)
        return 2
    if getattr(args, "province", False):
        if args.import_cert:
            print("xaso keys init: --province makes a CA; it does not go with --import-cert", file=err)
            return EXIT_USAGE
        return province_init(settings, args, out, err)
    if getattr(args, "name", None):
        print("xaso keys init: --name goes with --province", file=err)
        return EXIT_USAGE
    try:
        if args.import_cert:
            chain = Path(args.chain).read_bytes() if args.chain else None
            keys = import_licensed_keys(folder, Path(args.import_cert).read_bytes(),
                                        Path(args.import_key).read_bytes(), chain, force=args.force)
        else:
            keys = create_commune_keys(folder, settings.commune_name, force=args.force)
    except (KeysExist, KeyImportError, OSError) as problem:
        print(f"xaso keys init: {problem}", file=err)
        return 1
    _print_keys(keys, folder, out)
    return 0


def _print_keys(keys: KeySet, folder: Path, out: TextIO) -> None:
    print(f"signing certificate: {keys.certificate.subject.rfc4514_string()}", file=out)
    print(f"issued by: {keys.certificate.issuer.rfc4514_string()}", file=out)
    print(f"valid until: {keys.certificate.not_valid_after_utc:%Y-%m-%d}", file=out)
    print(f"keys written to {folder} (private keys mode 600; back them up)", file=out)


def province_init(settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`xaso keys init --province`: the province's root CA in var/keys/province/."""
    try:
        province = Province.load(settings).home.province
    except (ProvinceError, CommuneError) as problem:
        print(f"xaso keys init: {problem}", file=err)
        return EXIT_USAGE
    name = args.name or (province_ca_name(province) if province else "")
    if not name:
        print("xaso keys init: commune.yml names no province: give the CA's name with --name", file=err)
        return EXIT_USAGE
    folder = province_keys_dir(settings.var_dir)
    try:
        ca = create_province_ca(folder, name, province, force=args.force)
    except (KeysExist, OSError) as problem:
        print(f"xaso keys init: {problem}", file=err)
        return 1
    print(f"province root CA: {ca.root.subject.rfc4514_string()}", file=out)
    print(f"valid until: {ca.root.not_valid_after_utc:%Y-%m-%d}", file=out)
    print(f"written to {folder} (root-ca.key mode 600: keep it offline once the communes are issued)",
          file=out)
    print("next: `xaso keys issue CODE` for each commune (XASO_COMMUNES)", file=out)
    return 0


def keys_issue(settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`xaso keys issue CODE…`: the province CA certifies each commune's new signing key, written to
    var/keys/communes/<code>/ (which the home commune then uses instead of var/keys/)."""
    codes = list(dict.fromkeys(code.strip().upper() for code in args.codes))
    served = settings.served_communes
    unknown = [code for code in codes if code not in served]
    if unknown:
        print(f"xaso keys issue: unknown commune {', '.join(unknown)}: this installation serves "
              f"{', '.join(served)} (XASO_COMMUNES)", file=err)
        return EXIT_USAGE
    try:
        province = Province.load(settings)
    except (ProvinceError, CommuneError) as problem:
        print(f"xaso keys issue: {problem}", file=err)
        return EXIT_USAGE
    try:
        ca = load_province_ca(province_keys_dir(settings.var_dir))
    except (KeysMissing, ValueError, OSError) as problem:
        print(f"xaso keys issue: {problem}", file=err)
        return 1
    for code in codes:
        commune = province.communes[code]
        folder = settings.var_dir / "keys" / COMMUNES_DIR / code
        before = commune_keys_dir(settings.var_dir, code, settings.commune_code)
        try:
            keys = issue_commune_keys(folder, ca, commune.name, force=args.force)
            kept = keep_trusting(folder, before) if before != folder else 0
        except (KeysExist, OSError) as problem:
            print(f"xaso keys issue: {code}: {problem}", file=err)
            return 1
        print(f"{code} ({commune.name}):", file=out)
        _print_keys(keys, folder, out)
        if kept:
            print(f"{before} is no longer used; its {kept} certificate(s) stay trusted for what they signed",
                  file=out)
    return 0


def verify_file(settings: Settings, path: Path, trust: Path | None, out: TextIO) -> int:
    """Exit 0 valid, 1 invalid, 2 unreadable (no such file, neither kind of signed result, nothing to
    trust). The kind is told by content: a PDF starts with `%PDF-`, a JSON envelope with `{`."""
    try:
        raw = path.read_bytes()
    except OSError as problem:
        print(f"cannot read {path}: {problem.strerror}", file=out)
        return EXIT_UNREADABLE
    keyring = _trusted(settings, trust, out)
    if keyring is None:
        return EXIT_UNREADABLE
    if raw.startswith(PDF_MAGIC):
        return _verify_pdf_file(settings, raw, keyring, path, out)
    if not raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        print(f"NOT READABLE: {path} is neither a signed PDF nor a signed JSON result.", file=out)
        print_accepted_kinds(settings, out)
        return EXIT_UNREADABLE
    checked = keyring.verify(raw)
    print_verification(checked, path, out)
    if Reason.MALFORMED in checked.reasons:
        print_accepted_kinds(settings, out)
    return _exit_code(checked.ok, checked.reasons)


def _trusted(settings: Settings, trust: Path | None, out: TextIO) -> Keyring | None:
    """The roots given by hand (any signer they certify); else what the served communes' own keys
    trust, each commune signing as its own certificates (a province CA vouches for all its communes)."""
    if trust is not None:
        try:
            return Keyring(anchors=x509.load_pem_x509_certificates(trust.read_bytes()))
        except (OSError, ValueError) as problem:
            print(f"cannot read the trusted root {trust}: {problem}", file=out)
            return None
    keyrings = []
    for code in settings.served_communes:
        keyring = Keyring()
        keyring.load(commune_keys_dir(settings.var_dir, code, settings.commune_code))
        keyrings.append(keyring)
    return Keyring.combined(keyrings)


def _exit_code(ok: bool, reasons: tuple[Reason, ...]) -> int:
    if ok:
        return EXIT_VALID
    unreadable = {Reason.MALFORMED, Reason.NO_TRUST_ANCHOR, Reason.NOT_SIGNED}
    return EXIT_UNREADABLE if unreadable.intersection(reasons) else EXIT_INVALID


def print_accepted_kinds(settings: Settings, out: TextIO) -> None:
    print("FILE may be:", file=out)
    print("  - a result PDF signed by the commune, as the chat sends it (it starts with %PDF-);", file=out)
    print(f"  - the signed JSON of a result, from {verify_url(settings.public_url, 'CODE')}.json", file=out)


def print_verification(checked: Verification, path: Path, out: TextIO) -> None:
    if checked.ok:
        print(f"VALID: {path} is intact and signed by {checked.signer_name}.", file=out)
    else:
        print(f"NOT VALID: {path}", file=out)
        _print_reasons(checked.reasons, out)
    if checked.signer:
        print(f"signer: {checked.signer}", file=out)
    if checked.issuer_name:
        print(f"certified by: {checked.issuer_name}", file=out)
    if checked.envelope is not None:
        envelope = checked.envelope
        print(f"signed at: {envelope.signed_at} (UTC), {vietnam_time(envelope.signed_at_time)}", file=out)
        print(f"code: {envelope.code}  kind: {envelope.kind}", file=out)


def _verify_pdf_file(settings: Settings, raw: bytes, keyring: Keyring, path: Path, out: TextIO) -> int:
    checked = asyncio.run(keyring.verify_pdf(raw))  # pyHanko is imported only for a PDF
    print_pdf_verification(checked, settings, path, out)
    if Reason.MALFORMED in checked.reasons:
        print_accepted_kinds(settings, out)
    return _exit_code(checked.ok, checked.reasons)


def print_pdf_verification(checked: PdfVerification, settings: Settings, path: Path, out: TextIO) -> None:
    if checked.ok:
        print(f"VALID: {path} is a signed PDF, unchanged since it was signed by {checked.signer_name}.",
              file=out)
    else:
        print(f"NOT VALID: {path} (a PDF)", file=out)
        _print_reasons(checked.reasons, out)
    if checked.document_number:
        print(f"document number: {checked.document_number} (its verification code; checked also at "
              f"{verify_url(settings.public_url, checked.document_number)})", file=out)
    rows = [("signer", checked.signer), ("on behalf of", checked.signed_for),
            ("certified by", checked.issuer_name),
            ("signed at", vietnam_time(checked.signed_at) if checked.signed_at else None),
            ("reason", checked.reason), ("location", checked.location)]
    for label, value in rows:
        if value:
            print(f"{label}: {value}", file=out)


def _print_reasons(reasons: tuple[Reason, ...], out: TextIO) -> None:
    for reason in reasons:
        print(f"  - {reason}: {REASON_SUMMARY[reason]}", file=out)


def vietnam_time(moment: dt.datetime) -> str:
    return f"{moment.astimezone(VIETNAM):%d/%m/%Y %H:%M} (Vietnam time, UTC+7)"
