"""`xaso keys init` and `xaso verify FILE`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from cryptography import x509

from core.config import Settings
from core.signing import (
    KeyImportError,
    Keyring,
    KeysExist,
    Verification,
    create_commune_keys,
    import_licensed_keys,
    verify_json,
)
from core.signing.verify import REASON_SUMMARY

EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def keys_dir(settings: Settings) -> Path:
    return settings.var_dir / "keys"


def keys_init(settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    folder = keys_dir(settings)
    if bool(args.import_cert) != bool(args.import_key):
        print("xaso keys init: --import-cert and --import-key go together", file=err)
        return 2
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
    print(f"signing certificate: {keys.certificate.subject.rfc4514_string()}", file=out)
    print(f"issued by: {keys.certificate.issuer.rfc4514_string()}", file=out)
    print(f"valid until: {keys.certificate.not_valid_after_utc:%Y-%m-%d}", file=out)
    print(f"keys written to {folder} (private keys mode 600; back them up)", file=out)
    return 0


def verify_file(settings: Settings, path: Path, trust: Path | None, out: TextIO) -> int:
    """Exit 0 valid, 1 invalid, 2 unreadable (no such file, not an envelope, nothing to trust)."""
    try:
        raw = path.read_bytes()
    except OSError as problem:
        print(f"cannot read {path}: {problem.strerror}", file=out)
        return EXIT_UNREADABLE
    if trust is not None:
        try:
            anchors = x509.load_pem_x509_certificates(trust.read_bytes())
        except (OSError, ValueError) as problem:
            print(f"cannot read the trusted root {trust}: {problem}", file=out)
            return EXIT_UNREADABLE
        checked = verify_json(raw, anchors)
    else:
        keyring = Keyring()
        keyring.load(keys_dir(settings))
        checked = keyring.verify(raw)
    print_verification(checked, path, out)
    if checked.ok:
        return EXIT_VALID
    unreadable = {"malformed", "no_trust_anchor"}
    return EXIT_UNREADABLE if unreadable.intersection(checked.reasons) else EXIT_INVALID


def print_verification(checked: Verification, path: Path, out: TextIO) -> None:
    if checked.ok:
        print(f"VALID: {path} is intact and signed by {checked.signer_name}.", file=out)
    else:
        print(f"NOT VALID: {path}", file=out)
        for reason in checked.reasons:
            print(f"  - {reason}: {REASON_SUMMARY[reason]}", file=out)
    if checked.signer:
        print(f"signer: {checked.signer}", file=out)
    if checked.issuer_name:
        print(f"certified by: {checked.issuer_name}", file=out)
    if checked.envelope is not None:
        envelope = checked.envelope
        print(f"signed at: {envelope.signed_at} (UTC)", file=out)
        print(f"code: {envelope.code}  kind: {envelope.kind}", file=out)
