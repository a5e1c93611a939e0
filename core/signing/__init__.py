"""Digital signatures of the commune's results (SECURITY.md, "Signatures out").

`keys` makes or imports the commune's keys and loads them into a `Keyring`; `envelope` signs;
`verify` checks; `store` keeps signed results for `GET /verify/{code}`; `pdf` signs and checks PDFs
(PAdES; import it directly: pyHanko is slow to import).
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
    create_commune_keys,
    import_licensed_keys,
    load_keys,
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
    "KeyImportError", "KeySet", "Keyring", "KeysExist", "KeysMissing", "MalformedEnvelope", "Reason",
    "SignedDocument", "SignedDocumentRow", "SignedRecord", "Signer", "SigningError", "Verification",
    "attach_pdf", "canonical_json", "create_commune_keys", "find_signed", "import_licensed_keys", "load_keys",
    "normalise_code", "sign_and_store", "verify", "verify_json", "verify_url",
]
