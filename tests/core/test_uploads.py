from __future__ import annotations

import datetime as dt
import io
import re
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageCms
from pypdf import PdfWriter

from backends.onestop.result_pdf import FONT_DIR, REGULAR
from core.i18n import Catalogue
from core.signing import create_commune_keys
from core.uploads import (
    DEFAULT_LIMITS,
    CleanUpload,
    RejectReason,
    UploadLimits,
    UploadRejected,
    check_upload,
    check_upload_async,
)
from tests.core.test_signed_pdf import COMMUNE, SIGNED_AT, signed_pdf

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- builders ------------------------------------------------------------------------------------------


def jpeg(size: tuple[int, int] = (40, 20), mode: str = "RGB", **save: object) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, "red" if mode == "RGB" else 0).save(buffer, "JPEG", **save)
    return buffer.getvalue()


def png(image: Image.Image, **save: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **save)
    return buffer.getvalue()


def gps_exif(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.Model] = "Model X"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (21.0, 1.0, 30.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (105.0, 51.0, 0.0),
    }
    return exif


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares its size but carries (almost) no pixels: a decompression bomb's opening."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return PNG_MAGIC + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def pdf(*objects: bytes) -> bytes:
    """A small PDF with a correct cross-reference table around the given object bodies."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def stream(dictionary: bytes, body: bytes) -> bytes:
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(body) + body + b"\nendstream"


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>"
CONTENT = stream(b"", b"BT /F1 12 Tf 72 720 Td (Don xin xac nhan) Tj ET")


def plain_pdf(*extra: bytes) -> bytes:
    return pdf(CATALOG, PAGES, PAGE, CONTENT, *extra)


def object_stream(text: bytes, dictionary: bytes = b"/Filter /FlateDecode") -> bytes:
    body = b"5 0 " + text
    packed = zlib.compress(body) if b"FlateDecode" in dictionary else body
    return stream(b"/Type /ObjStm /N 1 /First 4 " + dictionary, packed)


def accepted(result: CleanUpload | UploadRejected) -> CleanUpload:
    assert isinstance(result, CleanUpload), result
    return result


def rejected(result: CleanUpload | UploadRejected) -> RejectReason:
    assert isinstance(result, UploadRejected), result
    return result.reason


# --- normal files --------------------------------------------------------------------------------------


def test_normal_photo_passes_with_a_server_made_name() -> None:
    clean = accepted(check_upload("ảnh giấy khai sinh.jpg", "image/jpeg", jpeg((64, 48))))
    assert clean.content_type == "image/jpeg" and clean.extension == ".jpg"
    assert re.fullmatch(r"[0-9a-f]{32}", clean.upload_id)
    assert clean.name == clean.upload_id + ".jpg"
    assert (clean.width, clean.height) == (64, 48)
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.format == "JPEG" and stored.size == (64, 48)


def test_every_upload_gets_a_new_id() -> None:
    data = jpeg()
    ids = {accepted(check_upload("a.jpg", "image/jpeg", data)).upload_id for _ in range(5)}
    assert len(ids) == 5


def test_png_stays_png_and_keeps_transparency() -> None:
    image = Image.new("RGBA", (30, 30), (0, 128, 0, 0))
    clean = accepted(check_upload("x.png", "image/png", png(image)))
    assert clean.content_type == "image/png" and clean.extension == ".png"
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.format == "PNG" and stored.mode == "RGBA"
        assert stored.getpixel((0, 0)) == (0, 128, 0, 0)


def test_palette_png_transparency_survives_clearing_metadata() -> None:
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    clean = accepted(check_upload("x.png", "image/png", png(image, transparency=1)))
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.convert("RGBA").getpixel((0, 0)) == (255, 0, 0, 0)


def test_declared_type_and_name_are_not_trusted() -> None:
    clean = accepted(check_upload("scan.pdf", "application/pdf", png(Image.new("RGB", (4, 4)))))
    assert clean.content_type == "image/png" and clean.extension == ".png"
    assert "scan" not in clean.name


def test_grey_and_cmyk_jpegs_are_re_encoded() -> None:
    grey = accepted(check_upload("g.jpg", "image/jpeg", jpeg(mode="L")))
    cmyk = accepted(check_upload("c.jpg", "image/jpeg", jpeg(mode="CMYK")))
    with Image.open(io.BytesIO(grey.data)) as g, Image.open(io.BytesIO(cmyk.data)) as c:
        assert g.mode == "L" and c.mode == "RGB"


def test_colour_profile_stays() -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    clean = accepted(check_upload("p.jpg", "image/jpeg", jpeg(icc_profile=icc)))
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.info.get("icc_profile") == icc


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_photo_with_broken_exif_still_passes_cleaned() -> None:
    original = jpeg((16, 16))
    junk = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + b"\x00" * 20
    app1 = b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk
    clean = accepted(check_upload("x.jpg", "image/jpeg", original[:2] + app1 + original[2:]))
    assert b"Exif" not in clean.data


# --- metadata ------------------------------------------------------------------------------------------


def test_jpeg_with_gps_is_stored_without_any_exif_and_upright() -> None:
    original = jpeg((40, 20), exif=gps_exif(orientation=6), comment=b"nha ong Nam, thon 3")
    with Image.open(io.BytesIO(original)) as before:
        assert before.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test image really has GPS
    clean = accepted(check_upload("IMG_0001.jpg", "image/jpeg", original))
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert dict(stored.getexif()) == {}
        assert not stored.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert "exif" not in stored.info and "comment" not in stored.info
        assert stored.size == (20, 40)  # orientation 6 applied before the tag went away
    assert b"Exif" not in clean.data and b"PhoneCo" not in clean.data and b"thon 3" not in clean.data
    assert (clean.width, clean.height) == (20, 40)


def test_png_text_exif_and_xmp_are_stripped() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Nguyen Van A")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>gps</x:xmpmeta>")
    original = png(Image.new("RGB", (10, 5)), pnginfo=info, exif=gps_exif(orientation=8))
    clean = accepted(check_upload("x.png", "image/png", original))
    for marker in (b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"Nguyen", b"xmpmeta"):
        assert marker not in clean.data
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.size == (5, 10)


# --- hostile files -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "declared", "data"),
    [
        ("photo.jpg", "image/jpeg", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 100),  # a Windows EXE
        ("photo.png", "image/png", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
        ("photo.jpg", "image/jpeg", b"GIF89a" + b"\x00" * 30),
        ("doc.pdf", "application/pdf", b"PK\x03\x04" + b"\x00" * 30),  # a zip / docx
        ("doc.pdf", "application/pdf", b"  %PDF-1.7\n%%EOF"),  # magic not at the start
        ("empty.jpg", "image/jpeg", b""),
        ("x.svg", "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ],
)
def test_wrong_magic_is_refused(filename: str, declared: str, data: bytes) -> None:
    assert rejected(check_upload(filename, declared, data)) is RejectReason.BAD_TYPE


def test_oversized_file_is_refused_before_anything_else() -> None:
    big = JPEG_MAGIC + b"\x00" * DEFAULT_LIMITS.max_bytes
    assert rejected(check_upload("big.jpg", "image/jpeg", big)) is RejectReason.TOO_LARGE
    small_limits = UploadLimits(max_bytes=100)
    assert rejected(check_upload("x.jpg", "image/jpeg", jpeg(), small_limits)) is RejectReason.TOO_LARGE
    assert rejected(check_upload("x", "", b"\x00" * 101, small_limits)) is RejectReason.TOO_LARGE


def test_pixel_bomb_is_refused_without_decoding() -> None:
    bomb = png_header_only(100_000, 100_000)
    assert len(bomb) < 200
    assert rejected(check_upload("bomb.png", "image/png", bomb)) is RejectReason.TOO_MANY_PIXELS


def test_pixel_cap_does_not_rely_on_pillows_global_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert rejected(check_upload("b.png", "image/png", png_header_only(100_000, 100_000))) is (
        RejectReason.TOO_MANY_PIXELS
    )


def test_image_over_our_cap_but_under_pillows_is_refused() -> None:
    assert DEFAULT_LIMITS.max_pixels < (Image.MAX_IMAGE_PIXELS or 0)
    over = png_header_only(8000, 6000)  # 48 megapixels: Pillow alone would start decoding this
    assert rejected(check_upload("big.png", "image/png", over)) is RejectReason.TOO_MANY_PIXELS
    limits = UploadLimits(max_pixels=100)
    result = check_upload("x.jpg", "image/jpeg", jpeg((20, 20)), limits)
    assert rejected(result) is RejectReason.TOO_MANY_PIXELS


NOISY_PNG = png(Image.frombytes("RGB", (32, 32), bytes(range(256)) * 12))


@pytest.mark.parametrize(
    "data",
    [
        jpeg((64, 64))[:200],  # cut off in the middle of the scan
        jpeg((64, 64))[:40],  # cut off in the headers
        JPEG_MAGIC + b"\xe0" + b"\x00" * 50,
        PNG_MAGIC + b"\x00" * 40,
        NOISY_PNG[: len(NOISY_PNG) // 2],  # cut off in the middle of the pixel data
        png_header_only(0, 10),
        png_header_only(16, 16),  # IDAT too short for the declared size
    ],
)
def test_truncated_or_corrupt_images_are_refused(data: bytes) -> None:
    assert rejected(check_upload("x", "image/jpeg", data)) is RejectReason.CORRUPT


def test_png_with_bad_crc_is_refused() -> None:
    data = bytearray(png(Image.new("RGB", (16, 16), "blue")))
    data[30] ^= 0xFF  # inside IHDR, so its CRC no longer matches
    assert rejected(check_upload("x.png", "image/png", bytes(data))) is RejectReason.CORRUPT


# --- PDF -----------------------------------------------------------------------------------------------


def test_plain_pdf_is_kept_byte_for_byte() -> None:
    data = plain_pdf()
    clean = accepted(check_upload("don.pdf", "application/octet-stream", data))
    assert clean.data == data and clean.content_type == "application/pdf" and clean.extension == ".pdf"
    assert clean.width is None and clean.name.endswith(".pdf")


@pytest.mark.parametrize(
    "extra",
    [
        b"<< /Type /Action /S /JavaScript /JS (app.alert('x')) >>",
        b"<< /OpenAction << /S /JavaScript /JS 7 0 R >> >>",
        b"<< /S /J#61vaScript /J#53 (app.alert(1)) >>",  # names hidden behind #xx escapes
        b"<< /AA << /O << /JS (this.exportDataObject()) >> >> >>",
        b"<< /Type /Action /S /Launch /F (cmd.exe) >>",
        b"<< /Names << /EmbeddedFiles << /Names [(a.exe) 8 0 R] >> >> >>",
        b"<< /Type /Filespec /EF << /F 9 0 R >> >> " + stream(b"/Type /EmbeddedFile", b"MZ"),
        b"<< /Type /Annot /Subtype /RichMedia >>",
    ],
)
def test_pdf_with_active_content_is_refused(extra: bytes) -> None:
    assert rejected(check_upload("x.pdf", "application/pdf", plain_pdf(extra))) is RejectReason.ACTIVE_CONTENT


@pytest.mark.parametrize(
    "extra",
    [
        b"<< /AA << /O << /S /URI /URI (https://example.com/) >> >> >>",  # an action on opening a page
        b"<< /Fields [] /XFA 9 0 R >>",  # an XFA form, scripted in its XML
        b"<< /Type /Action /S /SubmitForm /F (https://example.com/collect) >>",
        b"<< /Type /Action /S /ImportData /F (data.fdf) >>",
        # A file attachment whose file stream does not say /Type /EmbeddedFile (it is optional).
        b"<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 9 9] /FS << /Type /Filespec /F (a.exe)"
        b" /EF << /F 9 0 R >> >> >> " + stream(b"", b"MZ"),
    ],
)
def test_other_active_pdf_parts_are_refused(extra: bytes) -> None:
    assert rejected(check_upload("x.pdf", "application/pdf", plain_pdf(extra))) is RejectReason.ACTIVE_CONTENT


def test_pdf_opening_with_javascript_is_refused() -> None:
    """/OpenAction running a script, directly in the catalogue or through a referenced action."""
    script = b"<< /Type /Action /S /JavaScript /JS (app.launchURL('https://example.com')) >>"
    direct = pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction " + script + b" >>", PAGES, PAGE, CONTENT)
    indirect = pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>", PAGES, PAGE, CONTENT, script)
    for data in (direct, indirect):
        result = check_upload("don.pdf", "application/pdf", data)
        assert rejected(result) is RejectReason.ACTIVE_CONTENT
        assert isinstance(result, UploadRejected) and "JavaScript" in result.detail


def test_pdf_launching_a_program_is_refused() -> None:
    launch = b"<< /Type /Action /S /Launch /Win << /F (cmd.exe) /P (/c calc) >> >>"
    data = pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>", PAGES, PAGE, CONTENT, launch)
    assert rejected(check_upload("don.pdf", "application/pdf", data)) is RejectReason.ACTIVE_CONTENT


def test_pdf_with_an_embedded_file_made_by_a_real_library_is_refused() -> None:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_attachment("hoa_don.exe", b"MZ\x90\x00 not a real program")
    buffer = io.BytesIO()
    writer.write(buffer)
    result = check_upload("don.pdf", "application/pdf", buffer.getvalue())
    assert rejected(result) is RejectReason.ACTIVE_CONTENT


def test_keys_hidden_from_the_byte_scan_are_found_in_the_object_graph() -> None:
    """A fake `>> stream` in a comment makes the byte scan skip what follows as stream data; a viewer
    (and pypdf) reads the comment as a comment and the /AA as the catalogue's."""
    catalog = (b"<< /Type /Catalog /Pages 2 0 R\n% >>\nstream\n"
               b"/AA << /O << /S /URI /URI (https://example.com/) >> >>\n% endstream\n>>")
    result = check_upload("x.pdf", "application/pdf", pdf(catalog, PAGES, PAGE, CONTENT))
    assert isinstance(result, UploadRejected) and result.reason is RejectReason.ACTIVE_CONTENT
    assert result.detail == "PDF key /AA"


def test_objects_hidden_inside_a_stream_body_are_scanned() -> None:
    """Readers that rebuild a broken cross-reference table find `6 0 obj` even inside a stream."""
    fake = stream(b"/Filter /DCTDecode", b"\xff\xd8 6 0 obj << /AA << /O 7 0 R >> >> endobj")
    assert rejected(check_upload("x.pdf", "application/pdf", plain_pdf(fake))) is RejectReason.ACTIVE_CONTENT


def test_a_pdf_pypdf_cannot_read_is_refused_as_damaged() -> None:
    result = check_upload("x.pdf", "application/pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n%%EOF\n")
    assert isinstance(result, UploadRejected) and result.reason is RejectReason.CORRUPT
    assert result.detail.startswith("pypdf: ")


def test_reading_the_object_graph_is_bounded() -> None:
    many = pdf(b"<< /Type /Catalog /Pages 2 0 R /Extra [" + b" ".join(b"%d 0 R" % n for n in range(5, 105))
               + b"] >>", PAGES, PAGE, CONTENT, *([b"<< /A 1 >>"] * 100))
    assert accepted(check_upload("x.pdf", "application/pdf", many))
    for limits, detail in ((UploadLimits(max_pdf_objects=50), "too many PDF objects to check"),
                           (UploadLimits(max_pdf_nodes=50), "too many PDF objects to check"),
                           (UploadLimits(max_pdf_seconds=0.0), "PDF took too long to check")):
        result = check_upload("x.pdf", "application/pdf", many, limits)
        assert isinstance(result, UploadRejected) and result.reason is RejectReason.CORRUPT
        assert result.detail == detail


ZIP_WITH_HTML = b"PK\x03\x04" + b"\x00" * 26 + b"PK\x05\x06" + b"\x00" * 18


@pytest.mark.parametrize(
    "data",
    [
        b"<html><script>alert(document.domain)</script>\n" + plain_pdf(),  # HTML, then the PDF header
        b"<!DOCTYPE html><title>x</title>\n" + plain_pdf(),
        b"%PDF-1.7\n%<script>alert(1)</script>\n" + plain_pdf()[9:],  # HTML in a comment
        plain_pdf(stream(b"", b"<html><body><script>alert(1)</script></body></html>")),  # in a stream
        plain_pdf(stream(b"/Filter /FlateDecode", b"x\x9c <iframe src=//example.com>")),
        plain_pdf(b"<< /Title (<img src=x onerror=alert(1)>) >>"),  # in a string
        plain_pdf(b"<< /S /URI /URI (javascript:alert(1)) >>"),
        plain_pdf() + b"<svg onload=alert(1)>\n%%EOF\n",  # after the end
        plain_pdf() + ZIP_WITH_HTML + b"\n%%EOF\n",  # a ZIP archive too
    ],
)
def test_polyglots_are_refused(data: bytes) -> None:
    result = check_upload("don.pdf", "application/pdf", data)
    assert isinstance(result, UploadRejected) and result.reason is RejectReason.ACTIVE_CONTENT, result
    assert "polyglot" in result.detail


def test_a_late_pdf_header_without_html_is_still_just_not_taken() -> None:
    result = check_upload("x.pdf", "application/pdf", b"\r\n  " + plain_pdf())
    assert rejected(result) is RejectReason.BAD_TYPE


def test_rich_text_notes_and_xmp_metadata_are_not_mistaken_for_html() -> None:
    note = (b"<< /Type /Annot /Subtype /Text /Rect [0 0 10 10] /RC (<?xml version=\"1.0\"?><body xmlns="
            b"\"http://www.w3.org/1999/xhtml\"><p style=\"font-size:10pt\">Ghi chu</p></body>) >>")
    xmp = stream(b"/Type /Metadata /Subtype /XML", b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
                 b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta><?xpacket end="w"?>')
    data = plain_pdf(note, xmp)
    assert accepted(check_upload("x.pdf", "application/pdf", data)).data == data


def test_pdfs_written_by_real_libraries_pass_unchanged() -> None:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_metadata({"/Title": "Đơn xin xác nhận"})
    buffer = io.BytesIO()
    writer.write(buffer)
    made_by_pypdf = buffer.getvalue()
    assert accepted(check_upload("don.pdf", "application/pdf", made_by_pypdf)).data == made_by_pypdf


@pytest.mark.skipif(not (FONT_DIR / REGULAR).is_file(), reason="fonts-dejavu-core missing")
async def test_the_communes_own_signed_result_passes_unchanged(tmp_path: Path) -> None:
    """A villager sending back the result the commune signed (fpdf2, then a PAdES signature by pyHanko:
    a signature field, an incremental update) is sending a plain PDF."""
    keys = create_commune_keys(tmp_path / "keys", COMMUNE, now=SIGNED_AT - dt.timedelta(days=1))
    signed = await signed_pdf(keys)
    assert accepted(await check_upload_async("ket_qua.pdf", "application/pdf", signed)).data == signed


def test_javascript_hidden_in_a_compressed_object_stream_is_found() -> None:
    for text in (b"<< /S /JavaScript /JS (app.alert(1)) >>", b"<< /JS (app.alert(1)) >>"):
        data = plain_pdf(object_stream(text))
        assert b"/JS" not in data
        result = check_upload("x.pdf", "application/pdf", data)
        assert rejected(result) is RejectReason.ACTIVE_CONTENT


def test_harmless_object_stream_passes() -> None:
    assert accepted(check_upload("x.pdf", "application/pdf", plain_pdf(object_stream(b"<< /Type /Font >>"))))


def test_names_inside_ordinary_stream_bytes_are_not_mistaken_for_keys() -> None:
    body = b"\x00\x17/JS (\x80\x81 random bytes"
    image = stream(b"/Type /XObject /Subtype /Image /Filter /DCTDecode", body)
    assert accepted(check_upload("x.pdf", "application/pdf", plain_pdf(image)))


@pytest.mark.parametrize(
    "data",
    [
        plain_pdf().replace(b"%%EOF", b"%%EOX"),  # truncated download: no end marker
        plain_pdf()[:-200],
        plain_pdf() + b"\x00" * 2000,  # end marker no longer near the end
        b"%PDF-1.4\n1 0 obj << /Length 5 >>\nstream\nabc",  # stream that never ends
        plain_pdf(object_stream(b"<< /JS (x) >>", b"/Filter /ASCIIHexDecode")),  # unreadable here
        plain_pdf(object_stream(b"<< /JS (x) >>", b"/Filter /FlateDecode /DecodeParms << /Predictor 12 >>")),
        plain_pdf(stream(b"/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode", b"not zlib at all")),
    ],
)
def test_unreadable_pdfs_are_refused(data: bytes) -> None:
    assert rejected(check_upload("x.pdf", "application/pdf", data)) is RejectReason.CORRUPT


def test_object_stream_inflation_is_bounded() -> None:
    packed = zlib.compress(b" " * 2_000_000)
    bomb = plain_pdf(stream(b"/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode", packed))
    limits = UploadLimits(max_pdf_inflate=1_000_000)
    assert rejected(check_upload("x.pdf", "application/pdf", bomb, limits)) is RejectReason.CORRUPT
    assert accepted(check_upload("x.pdf", "application/pdf", bomb))


# --- async, messages, robustness -----------------------------------------------------------------------


async def test_async_variant_runs_in_a_thread() -> None:
    clean = await check_upload_async("a.jpg", "image/jpeg", jpeg())
    assert isinstance(clean, CleanUpload)
    refused = await check_upload_async("a.jpg", "image/jpeg", b"MZ")
    assert isinstance(refused, UploadRejected) and refused.reason is RejectReason.BAD_TYPE


def test_every_reason_has_a_message_in_both_languages(catalogue: Catalogue) -> None:
    for reason in RejectReason:
        key = UploadRejected(reason).message_key
        assert key == f"upload.{reason.value}"
        assert key in catalogue.keys("vi") and key in catalogue.keys("en")
    assert "links.refused" in catalogue.keys("vi") and "links.refused" in catalogue.keys("en")


SMALL_JPEG = jpeg((8, 8))
SMALL_PNG = png(Image.new("RGB", (8, 8)))


@settings(max_examples=150, deadline=None)
@given(
    prefix=st.sampled_from([b"", JPEG_MAGIC, PNG_MAGIC, b"%PDF-", SMALL_JPEG[:20], SMALL_PNG[:33]]),
    body=st.binary(max_size=300),
)
def test_check_upload_never_raises(prefix: bytes, body: bytes) -> None:
    result = check_upload("x", "image/jpeg", prefix + body)
    assert isinstance(result, CleanUpload | UploadRejected)


@settings(max_examples=100, deadline=None)
@given(position=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255))
def test_single_byte_mutations_never_raise(position: int, value: int) -> None:
    for original in (SMALL_JPEG, SMALL_PNG, plain_pdf()):
        data = bytearray(original)
        data[position % len(data)] = value
        result = check_upload("x", "", bytes(data))
        assert isinstance(result, CleanUpload | UploadRejected)
