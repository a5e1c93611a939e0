"""The result PDF on its own: one page, Vietnamese text intact, the code and QR address printed,
and a plain error without a font."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pypdf
import pytest

from backends.onestop.result_pdf import FONT_DIR, REGULAR, FontMissing, ResultSheet, render_result_pdf

SHEET = ResultSheet(
    commune="Xã La Bằng", title="Đăng ký khai tử", dossier_code="LB-2026-000042",
    decided_at=dt.datetime(2026, 2, 16, 20, 30, tzinfo=dt.UTC),  # 17/02 in Vietnam
    verification_code="ABCD234XYZ", verify_url="https://xa.example.vn/verify/ABCD234XYZ",
    particulars=[("Họ tên người mất", "Lê Văn Đức"), ("Nơi mất", "Tại nhà, " + "xóm Kèm " * 20)],
    signer="Xã La Bằng",
)

pytestmark = pytest.mark.skipif(not (FONT_DIR / REGULAR).is_file(), reason="fonts-dejavu-core missing")


def test_one_page_with_the_code_and_vietnamese_text() -> None:
    data = render_result_pdf(SHEET)
    assert data.startswith(b"%PDF")
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    for expected in ("ỦY BAN NHÂN DÂN", "XÃ LA BẰNG", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "ĐĂNG KÝ KHAI TỬ",
                     "LB-2026-000042", "17/02/2026", "ngày 17 tháng 02 năm 2026", "Lê Văn Đức",
                     "Mã xác minh: ABCD234XYZ", "https://xa.example.vn/verify/ABCD234XYZ"):
        assert expected in text, expected
    assert reader.pages[0].images  # the QR


def test_uncompressed_output_carries_the_font() -> None:
    data = render_result_pdf(SHEET, compress=False)
    assert b"/FontFile2" in data and b"DejaVu" in data


def test_a_missing_font_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FontMissing, match="fonts-dejavu-core"):
        render_result_pdf(SHEET, font_dir=tmp_path)
