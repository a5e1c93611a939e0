"""Attachments from citizens: decide what a file really is, refuse what is risky, and clean what we keep.

The type comes from the magic bytes alone (JPEG, PNG, PDF); the client's filename and content type are not
trusted and never reach storage. Images are decoded only after their declared size passes the pixel cap,
turned upright from their EXIF orientation and re-encoded with no metadata left (EXIF, GPS, XMP, comments
and text chunks go; the ICC colour profile stays). PDFs are kept byte for byte when they carry no active
content, and refused otherwise (never rewritten: a cleaned copy would no longer be what the villager
sent, and a scan or a certificate needs none of what is refused). Active content is: JavaScript (`/JS`,
`/JavaScript`, so an `/OpenAction` or `/AA` running a script too), additional actions (`/AA`), launching
programs (`/Launch`), files carried inside (`/EmbeddedFile(s)`, `/EF`, file-attachment annotations), rich
media, XFA forms (`/XFA`, whose scripts live in their XML) and form submission or import
(`/SubmitForm`, `/ImportData`). It is looked for twice: by a byte scan of the file (dictionaries,
decoded names, inflated object streams, objects hidden inside what looks like a stream), and in the
object graph pypdf reads from the trailer, as a viewer would (so a keyword hidden behind a fake
`stream` in a comment is seen too). A file pypdf cannot read is refused as damaged. Polyglots (a file
that is a PDF and something else at once) are refused as active content: HTML that would run (`<script`,
`<iframe`, `<svg`, an `on…=` handler, a `javascript:` address) in a PDF's first kilobyte or text, or a
`<script`-like tag anywhere; a PDF header after other bytes that hold HTML (readers accept the header
anywhere in the first kilobyte); a ZIP archive's end record in its tail. The stored name is made here:
a random id plus the extension of the real type.

`check_upload` is CPU-heavy on large images: from async code call `check_upload_async`, which runs it in a
worker thread. Neither raises on any input; a refusal is an `UploadRejected` with a reason code whose
message is `upload.<reason>` in the i18n catalogue.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import secrets
import time
import zlib
from dataclasses import dataclass
from enum import StrEnum

from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

MEGABYTE = 1024 * 1024
# pypdf's complaints about a malformed file quote the file's bytes: a villager's document stays out of the
# logs (the refusal's `detail` says what kind of problem it was).
logging.getLogger("pypdf").setLevel(logging.CRITICAL)


class RejectReason(StrEnum):
    TOO_LARGE = "too_large"
    BAD_TYPE = "bad_type"
    TOO_MANY_PIXELS = "too_many_pixels"
    CORRUPT = "corrupt"
    ACTIVE_CONTENT = "active_content"


@dataclass(frozen=True, slots=True)
class UploadLimits:
    max_bytes: int = 10 * MEGABYTE
    # Well under Pillow's own bomb limit (about 89 megapixels) so that guard never has to fire.
    max_pixels: int = 40_000_000
    jpeg_quality: int = 85
    # Decompressed size allowed for a PDF's object streams while looking for active content in them.
    max_pdf_inflate: int = 64 * MEGABYTE
    # Reading a PDF's object graph (pypdf, pure Python, about 0.25 ms an object) is bounded: objects in its
    # cross-reference tables and streams, values visited, and time. A phone scan has tens of objects, a
    # long text document a few thousand; past any bound the file is refused as one we cannot check.
    max_pdf_objects: int = 10_000
    max_pdf_nodes: int = 1_000_000
    max_pdf_seconds: float = 5.0


DEFAULT_LIMITS = UploadLimits()


@dataclass(frozen=True, slots=True)
class CleanUpload:
    data: bytes  # what to store: re-encoded image or the checked PDF
    content_type: str  # from the magic bytes
    extension: str  # ".jpg", ".png" or ".pdf", from the magic bytes
    upload_id: str  # secrets.token_hex(16)
    width: int | None = None
    height: int | None = None

    @property
    def name(self) -> str:
        """The server-made file name to store under."""
        return self.upload_id + self.extension


@dataclass(frozen=True, slots=True)
class UploadRejected:
    reason: RejectReason
    detail: str = ""  # for logs and the audit trail; never shown to the user

    @property
    def message_key(self) -> str:
        return f"upload.{self.reason.value}"


@dataclass(frozen=True, slots=True)
class _Kind:
    magic: bytes
    content_type: str
    extension: str
    pillow_format: str | None


_KINDS = (
    _Kind(b"\xff\xd8\xff", "image/jpeg", ".jpg", "JPEG"),
    _Kind(b"\x89PNG\r\n\x1a\n", "image/png", ".png", "PNG"),
    _Kind(b"%PDF-", "application/pdf", ".pdf", None),
)


def _sniff(data: bytes) -> _Kind | None:
    return next((kind for kind in _KINDS if data.startswith(kind.magic)), None)


def check_upload(
    filename: str, declared_type: str, data: bytes, limits: UploadLimits = DEFAULT_LIMITS
) -> CleanUpload | UploadRejected:
    """Accept and clean one attachment, or say why not. `filename` and `declared_type` are what the client
    claimed; they decide nothing (a JPEG sent as "scan.pdf" is a JPEG)."""
    if len(data) > limits.max_bytes:
        return UploadRejected(RejectReason.TOO_LARGE, f"{len(data)} bytes > {limits.max_bytes}")
    kind = _sniff(data)
    if kind is None:
        return _late_pdf_header(data) or UploadRejected(RejectReason.BAD_TYPE, f"magic {data[:8].hex()}")
    if kind.pillow_format is None:
        problem = _check_pdf(data, limits)
        if problem is not None:
            return problem
        return CleanUpload(data, kind.content_type, kind.extension, secrets.token_hex(16))
    image = _reencode_image(data, kind.pillow_format, limits)
    if isinstance(image, UploadRejected):
        return image
    clean, width, height = image
    return CleanUpload(clean, kind.content_type, kind.extension, secrets.token_hex(16), width, height)


async def check_upload_async(
    filename: str, declared_type: str, data: bytes, limits: UploadLimits = DEFAULT_LIMITS
) -> CleanUpload | UploadRejected:
    """`check_upload` in a worker thread, so decoding a large photo never stalls the event loop."""
    return await asyncio.to_thread(check_upload, filename, declared_type, data, limits)


# --- images --------------------------------------------------------------------------------------------

_PNG_MODES = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})


def _reencode_image(data: bytes, pillow_format: str, limits: UploadLimits
                    ) -> tuple[bytes, int, int] | UploadRejected:
    try:
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as opened:
            width, height = opened.size
            if width < 1 or height < 1:
                return UploadRejected(RejectReason.CORRUPT, f"size {width}x{height}")
            # Image.open has read only the header: refuse before any pixel is decoded.
            if width * height > limits.max_pixels:
                return UploadRejected(RejectReason.TOO_MANY_PIXELS, f"{width}x{height}")
            upright = _upright_without_metadata(opened)
        return _encode(upright, pillow_format, limits), upright.width, upright.height
    except Image.DecompressionBombError as exc:
        return UploadRejected(RejectReason.TOO_MANY_PIXELS, str(exc)[:200])
    except Exception as exc:  # Pillow's decoders raise many exception types on malformed input
        return UploadRejected(RejectReason.CORRUPT, f"{type(exc).__name__}: {str(exc)[:200]}")


def _upright_without_metadata(image: Image.Image) -> Image.Image:
    """Decode, apply the EXIF orientation, then drop every piece of metadata but the colour profile."""
    icc = image.info.get("icc_profile")
    upright = ImageOps.exif_transpose(image)  # a decoded copy, even when no rotation is needed
    if "transparency" in image.info:
        # Palette and grey transparency live in `info`, which is cleared below: keep it as an alpha channel.
        upright = upright.convert("RGBA")
        icc = icc if image.mode in ("RGB", "RGBA", "P") else None
    upright.info = {"icc_profile": icc} if icc else {}
    return upright


def _encode(image: Image.Image, pillow_format: str, limits: UploadLimits) -> bytes:
    target_modes = {"L", "RGB"} if pillow_format == "JPEG" else _PNG_MODES
    if image.mode not in target_modes:
        # A profile describes the old colour space (CMYK, say), not the converted pixels.
        image = image.convert("RGBA" if pillow_format == "PNG" else "RGB")
        image.info = {}
    icc = image.info.get("icc_profile")
    buffer = io.BytesIO()
    if pillow_format == "JPEG":
        image.save(buffer, "JPEG", quality=limits.jpeg_quality, optimize=True, icc_profile=icc)
    else:
        image.save(buffer, "PNG", icc_profile=icc)
    return buffer.getvalue()


# --- PDF -----------------------------------------------------------------------------------------------

# Names that make a PDF act: scripts, actions run on events, launching programs, files carried inside,
# embedded rich media, XFA forms (scripted XML), sending or importing form data.
_ACTIVE_NAMES = frozenset({b"JavaScript", b"JS", b"AA", b"Launch", b"EmbeddedFile", b"EmbeddedFiles", b"EF",
                           b"FileAttachment", b"RichMedia", b"XFA", b"SubmitForm", b"ImportData"})
# Long enough never to turn up by chance inside compressed bytes, so they are looked for everywhere.
_ACTIVE_ANYWHERE = _ACTIVE_NAMES - {b"JS", b"AA", b"EF", b"XFA"}
_ACTIVE_PDF_NAMES = frozenset("/" + name.decode() for name in _ACTIVE_NAMES)
# Readers find a PDF's header anywhere in its first kilobyte; browsers sniff about the first 512 bytes.
_HEADER_WINDOW = 1024
# HTML a browser would run, in a file that is also a PDF. Tags long enough not to occur by chance in
# compressed bytes are looked for everywhere; shorter ones, and event-handler attributes, where the PDF is
# text (outside stream bodies) and in its first kilobyte. Inert markup (`<body>`, `<p>`) is not looked
# for inside a PDF: annotations carry XHTML rich text.
_HTML_ANYWHERE = re.compile(
    rb"<(?:script|iframe|object|embed)[\t\n\x0c\r />]|(?:java|vb)script:|data:text/html", re.IGNORECASE)
_HTML_IN_TEXT = re.compile(
    rb"<(?:svg|math|img|meta|link|base|form|frame|frameset|style)[\t\n\x0c\r />]"
    rb"|<[a-z][^<>]{0,200}[\t\n\x0c\r /]on[a-z]+[\t\n\x0c\r ]*=", re.IGNORECASE)
# Before a late PDF header, any HTML at all makes the file a web page that also is a PDF.
_HTML_DOCUMENT = re.compile(rb"<(?:!doctype|html|head|body|title)[\t\n\x0c\r />]", re.IGNORECASE)
# A ZIP reader looks for its end record in the last 64 KiB (plus the record itself).
_ZIP_END = b"PK\x05\x06"
_ZIP_TAIL = 65_557
# An indirect object's header: readers that rebuild a broken cross-reference table find objects by it,
# even inside what the byte scan took for a stream body.
_OBJECT_HEADER = re.compile(
    rb"(?<![0-9])[0-9]{1,10}[\x00\t\n\x0c\r ]+[0-9]{1,5}[\x00\t\n\x0c\r ]+obj(?![A-Za-z])")
# One entry of a classic cross-reference table.
_XREF_ENTRY = re.compile(rb"[0-9]{10} [0-9]{5} [fn]")
_NAME = re.compile(rb"/([^\x00\t\n\x0c\r ()<>\[\]{}/%]*)")
_HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_STREAM = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
_FILTERS = frozenset({b"ASCIIHexDecode", b"AHx", b"ASCII85Decode", b"A85", b"LZWDecode", b"LZW",
                      b"FlateDecode", b"Fl", b"RunLengthDecode", b"RL", b"CCITTFaxDecode", b"CCF",
                      b"JBIG2Decode", b"DCTDecode", b"DCT", b"JPXDecode", b"Crypt"})
_EOF_WINDOW = 1024


def _names(chunk: bytes) -> set[bytes]:
    """PDF names in `chunk`, with `#xx` escapes decoded (`/J#61vaScript` is `/JavaScript`)."""
    return {_HEX_ESCAPE.sub(lambda m: bytes.fromhex(m[1].decode()), m[1]) if b"#" in m[1] else m[1]
            for m in _NAME.finditer(chunk)}


def _late_pdf_header(data: bytes) -> UploadRejected | None:
    """A PDF header after other bytes (which readers accept within the first kilobyte): a polyglot when
    those bytes hold HTML, else simply not a file we take."""
    start = data.find(b"%PDF-", 0, _HEADER_WINDOW)
    if start > 0 and any(pattern.search(data, 0, start)
                         for pattern in (_HTML_ANYWHERE, _HTML_IN_TEXT, _HTML_DOCUMENT)):
        return UploadRejected(RejectReason.ACTIVE_CONTENT, f"polyglot: HTML before %PDF- at {start}")
    return None


def _check_pdf(data: bytes, limits: UploadLimits) -> UploadRejected | None:
    if b"%%EOF" not in data[-_EOF_WINDOW:]:
        return UploadRejected(RejectReason.CORRUPT, "no %%EOF at the end")
    parts = _split_pdf(data, limits.max_pdf_inflate)
    if parts is None:
        # A stream we cannot read may hold objects we cannot see, so it is refused rather than trusted.
        return UploadRejected(RejectReason.CORRUPT, "unreadable stream or object stream")
    polyglot = _polyglot(data, parts)
    if polyglot is not None:
        return UploadRejected(RejectReason.ACTIVE_CONTENT, f"polyglot: {polyglot}")
    found = _names(data) & _ACTIVE_ANYWHERE
    for chunk in parts:
        found |= _names(chunk) & _ACTIVE_NAMES
    if found:
        names = ", ".join(sorted(name.decode() for name in found))
        return UploadRejected(RejectReason.ACTIVE_CONTENT, f"PDF names {names}")
    return _check_pdf_objects(data, limits)


def _polyglot(data: bytes, parts: list[bytes]) -> str | None:
    """What else a PDF also is, if anything: HTML a browser would run, or a ZIP archive."""
    # Where, not what: the detail goes to the logs, the file's bytes do not.
    for chunk in (data[:_HEADER_WINDOW], *parts):
        if _HTML_ANYWHERE.search(chunk) or _HTML_IN_TEXT.search(chunk):
            return "HTML markup in the PDF's text"
    marker = _HTML_ANYWHERE.search(data)
    if marker:
        return f"HTML markup at byte {marker.start()}"
    if _ZIP_END in data[-_ZIP_TAIL:]:
        return "ZIP end record"
    return None


def _check_pdf_objects(data: bytes, limits: UploadLimits) -> UploadRejected | None:
    """The object graph as a viewer reads it (pypdf: cross-reference table, object streams, encryption
    with an empty password), from the trailer: any active name as a key or a value refuses the file.
    Bounded in objects, values and time (`UploadLimits`): past a bound the file is refused, unchecked."""
    too_big = UploadRejected(RejectReason.CORRUPT, "too many PDF objects to check")
    if len(_XREF_ENTRY.findall(data)) > limits.max_pdf_objects:
        return too_big  # pypdf would parse every entry before anything else
    deadline = time.monotonic() + limits.max_pdf_seconds
    try:
        reader = PdfReader(io.BytesIO(data), strict=False, xref_stream_maximum_entries=limits.max_pdf_objects)
        pending: list[object] = [reader.trailer]
        seen: set[tuple[int, int]] = set()
        visited = 0
        while pending:
            item = pending.pop()
            visited += 1
            if visited > limits.max_pdf_nodes or len(seen) > limits.max_pdf_objects:
                return too_big
            if time.monotonic() > deadline:
                return UploadRejected(RejectReason.CORRUPT, "PDF took too long to check")
            if isinstance(item, IndirectObject):
                if (item.idnum, item.generation) not in seen:
                    seen.add((item.idnum, item.generation))
                    pending.append(item.get_object())
            elif isinstance(item, DictionaryObject):
                for key, value in dict.items(item):  # values as stored: references resolved above
                    if key in _ACTIVE_PDF_NAMES:
                        return UploadRejected(RejectReason.ACTIVE_CONTENT, f"PDF key {key}")
                    pending.append(value)
            elif isinstance(item, ArrayObject):
                pending.extend(list.__iter__(item))
            elif isinstance(item, NameObject) and item in _ACTIVE_PDF_NAMES:
                return UploadRejected(RejectReason.ACTIVE_CONTENT, f"PDF name {item}")
    except Exception as exc:  # pypdf raises many exception types on malformed input
        # Only the type: pypdf's messages quote the file's bytes.
        return UploadRejected(RejectReason.CORRUPT, f"pypdf: {type(exc).__name__}")
    return None


def _split_pdf(data: bytes, inflate_budget: int) -> list[bytes] | None:
    """The parts of a PDF where dictionaries live: everything outside stream bodies, plus the inflated
    object streams (PDF 1.5+ packs dictionaries, /JS included, into compressed streams). None when a
    stream has no end or an object stream cannot be read within the budget."""
    parts: list[bytes] = []
    position = search_from = 0
    while (match := _STREAM.search(data, search_from)) is not None:
        if not data[max(0, match.start() - 64) : match.start()].rstrip().endswith(b">>"):
            search_from = match.end()  # the word "stream" in text, not a stream keyword
            continue
        end = data.find(b"endstream", match.end())
        if end == -1:
            return None
        dictionary = data[position : match.start()]
        parts.append(dictionary)
        hidden = _OBJECT_HEADER.search(data, match.end(), end)
        if hidden is not None:
            # Objects inside a "stream": real ones to a reader that rebuilds the cross-reference table.
            parts.append(data[hidden.start() : end])
        if b"ObjStm" in _names(dictionary):
            inflated = _inflate_object_stream(dictionary, data[match.end() : end], inflate_budget)
            if inflated is None:
                return None
            inflate_budget -= len(inflated)
            parts.append(inflated)
        position = search_from = end + len(b"endstream")
    parts.append(data[position:])
    return parts


def _inflate_object_stream(dictionary: bytes, body: bytes, budget: int) -> bytes | None:
    names = _names(dictionary)
    filters = names & _FILTERS
    # Only plain or Flate object streams can be read here; predictors or other filters would hide names.
    if filters - {b"FlateDecode", b"Fl"} or names & {b"DecodeParms", b"DP"}:
        return None
    if not filters:
        return body
    try:
        inflated = zlib.decompressobj().decompress(body, budget + 1)
    except zlib.error:
        return None
    return inflated if len(inflated) <= budget else None
