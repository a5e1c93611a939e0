"""Digital signatures of the commune's results (SECURITY.md, "Signatures out").

`keys` makes, issues (from the province's CA) or imports the commune's keys and loads them into a
`Keyring`; `envelope` signs; `verify` checks; `store` keeps signed results for `GET /verify/{code}`;
`pdf` signs and checks PDFs (PAdES; import it directly: pyHanko is slow to import).
"""

from core.signing.envelope import (
    MalformedEnvelope,
    SignedDocument,
    Signer,
    SigningError,
    canonical_json,
)
from core.signing.keys import (
    KeyImportError,
    Keyring,
    KeySet,
    KeysExist,
    KeysMissing,
    ProvinceCA,
    create_commune_keys,
    create_province_ca,
    import_licensed_keys,
    issue_commune_keys,
    keep_trusting,
    load_keys,
    load_province_ca,
    province_keys_dir,
)
from core.signing.store import (
    SignedDocumentRow,
    SignedRecord,
    attach_pdf,
    find_signed,
    normalise_code,
    sign_and_store,
    verify_url,
)
from core.signing.verify import Reason, Verification, verify, verify_json

__all__ = [
    "KeyImportError", "KeySet", "Keyring", "KeysExist", "KeysMissing", "MalformedEnvelope", "ProvinceCA",
    "Reason", "SignedDocument", "SignedDocumentRow", "SignedRecord", "Signer", "SigningError", "Verification",
    "attach_pdf", "canonical_json", "create_commune_keys", "create_province_ca", "find_signed",
    "import_licensed_keys", "issue_commune_keys", "keep_trusting", "load_keys", "load_province_ca",
    "normalise_code", "province_keys_dir", "sign_and_store", "verify", "verify_json", "verify_url",
]
