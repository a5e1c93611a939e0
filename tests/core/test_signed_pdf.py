"""core.signing.pdf: the result PDF signed with PAdES (pyHanko), checked by pyHanko itself and by
`verify_pdf`, and the ways a signed PDF can go wrong (SECURITY.md, "Signatures out")."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from backends.onestop.result_pdf import FONT_DIR, REGULAR, ResultSheet, render_result
from core.signing import KeySet, Reason, Signer, SigningError, create_commune_keys
from core.signing.pdf import NUMBER_KEY, PdfSeal, sign_pdf, verify_pdf

COMMUNE = "Xã La Bằng"
CODE = "ABCD234XYZ"
SIGNED_AT = dt.datetime(2026, 2, 16, 20, 30, 5, tzinfo=dt.UTC)  # 17/02/2026 03:30 in Vietnam

pytestmark = pytest.mark.skipif(not (FONT_DIR / REGULAR).is_file(), reason="fonts-dejavu-core missing")


@pytest.fixture
def keys(tmp_path: Path) -> KeySet:
    return create_commune_keys(tmp_path / "keys", COMMUNE, now=SIGNED_AT - dt.timedelta(days=1))


def sheet() -> ResultSheet:
    return ResultSheet(
        commune=COMMUNE, title="Đăng ký khai sinh", dossier_code="LB-2026-000042", decided_at=SIGNED_AT,
        verification_code=CODE, verify_url=f"https://xa.example.vn/verify/{CODE}",
        particulars=[("Họ tên trẻ", "Nguyễn Văn Bình")], signer=COMMUNE, signer_title="Chủ tịch",
        signer_name="Hoàng Văn Minh", signed_at=SIGNED_AT,
    )


async def signed_pdf(keys: KeySet, at: dt.datetime = SIGNED_AT) -> bytes:
    rendered = render_result(sheet())
    seal = PdfSeal(document_number=CODE, reason="Kết quả giải quyết thủ tục Đăng ký khai sinh",
                   location="Xã La Bằng, huyện Đại Từ, tỉnh Thái Nguyên", name="Hoàng Văn Minh, Chủ tịch",
                   box=rendered.signature_box)
    return await sign_pdf(rendered.pdf, keys.signer(), seal, signed_at=at)


def subjects(keys: KeySet) -> set[str]:
    return {keys.certificate.subject.rfc4514_string()}


async def test_pyhanko_sees_a_valid_pades_signature(keys: KeySet) -> None:
    data = await signed_pdf(keys)
    reader = PdfFileReader(io.BytesIO(data))
    [signature] = reader.embedded_regular_signatures
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert signature.sig_object["/Name"] == "Hoàng Văn Minh, Chủ tịch"
    context = ValidationContext(trust_roots=[translate_pyca_cryptography_cert_to_asn1(keys.root)],
                                moment=SIGNED_AT, allow_fetching=False)
    status = await async_validate_pdf_signature(signature, context)
    assert status.intact and status.valid and status.trusted and status.bottom_line
    assert status.signer_reported_dt == SIGNED_AT
    assert "/Widget" in str(signature.sig_field.get("/Subtype"))  # the visible signature box


async def test_verify_pdf_reports_signer_time_and_number(keys: KeySet) -> None:
    checked = await verify_pdf(await signed_pdf(keys), [keys.root], subjects(keys))
    assert checked.ok and checked.reasons == ()
    assert checked.signer_name == COMMUNE and checked.issuer_name == f"{COMMUNE} - CA gốc"
    assert checked.signed_at == SIGNED_AT and checked.document_number == CODE
    assert checked.signed_for == "Hoàng Văn Minh, Chủ tịch" and checked.signatures == 1


async def test_a_flipped_byte_is_altered(keys: KeySet) -> None:
    data = bytearray(await signed_pdf(keys))
    data[data.index(b"/MediaBox") + 1] ^= 0x01  # inside the signed byte range
    checked = await verify_pdf(bytes(data), [keys.root], subjects(keys))
    assert not checked.ok and Reason.ALTERED in checked.reasons


async def test_a_page_changed_in_a_later_update_is_altered(keys: KeySet) -> None:
    data = await signed_pdf(keys)
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    added = writer.add_object(generic.StreamObject(stream_data=b"q 1 0 0 rg 0 0 595 842 re f Q"))
    writer.add_stream_to_page(0, added)  # a red page over the printed result
    forged = io.BytesIO()
    writer.write(forged)
    checked = await verify_pdf(forged.getvalue(), [keys.root], subjects(keys))
    assert not checked.ok and checked.reasons == (Reason.ALTERED,)
    assert checked.document_number == CODE  # read from the signed revision


async def test_a_number_changed_after_signing_is_not_believed(keys: KeySet) -> None:
    data = await signed_pdf(keys)
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    info = writer.trailer["/Info"]
    info[generic.NameObject(NUMBER_KEY)] = generic.TextStringObject("ZZZZZZZZZZ")
    writer.update_container(info)
    forged = io.BytesIO()
    writer.write(forged)
    checked = await verify_pdf(forged.getvalue(), [keys.root], subjects(keys))
    assert checked.document_number == CODE, checked


async def test_trust_comes_from_the_communes_root_only(keys: KeySet, tmp_path: Path) -> None:
    data = await signed_pdf(keys)
    stranger = create_commune_keys(tmp_path / "stranger", "Xã Khác")
    assert (await verify_pdf(data, [stranger.root])).reasons == (Reason.UNTRUSTED_CHAIN,)
    assert (await verify_pdf(data, [])).reasons == (Reason.NO_TRUST_ANCHOR,)
    other_subjects = {stranger.certificate.subject.rfc4514_string()}
    assert (await verify_pdf(data, [keys.root], other_subjects)).reasons == (Reason.UNKNOWN_SIGNER,)


async def test_a_key_that_has_since_expired_still_vouches_for_what_it_signed(tmp_path: Path) -> None:
    short = create_commune_keys(tmp_path / "short", COMMUNE, now=SIGNED_AT - dt.timedelta(hours=1),
                                signing_days=1)
    checked = await verify_pdf(await signed_pdf(short), [short.root], now=SIGNED_AT + dt.timedelta(days=400))
    assert checked.ok, checked.reasons


async def test_signing_out_of_validity_is_refused_and_the_future_is_flagged(keys: KeySet) -> None:
    with pytest.raises(SigningError):
        await signed_pdf(keys, at=SIGNED_AT + dt.timedelta(days=5 * 365))
    checked = await verify_pdf(await signed_pdf(keys), [keys.root], now=SIGNED_AT - dt.timedelta(hours=1))
    assert checked.reasons == (Reason.SIGNED_IN_FUTURE,)


async def test_unsigned_and_unreadable_pdfs(keys: KeySet) -> None:
    assert (await verify_pdf(render_result(sheet()).pdf, [keys.root])).reasons == (Reason.NOT_SIGNED,)
    for raw in (b"%PDF-1.7\ngarbage", b"not a pdf", b""):
        assert (await verify_pdf(raw, [keys.root])).reasons == (Reason.MALFORMED,)


async def test_signer_refuses_a_key_of_another_certificate(keys: KeySet, tmp_path: Path) -> None:
    other = create_commune_keys(tmp_path / "other", COMMUNE)
    with pytest.raises(ValueError, match="does not belong"):
        Signer(other.key, keys.certificate)
