"""The signed result as a one-page A4 PDF for people: the commune's header, the procedure, the
dossier code, the decision date, the printed fields, and the verification code with a QR of the
verify page. It renders the signed document, so what the paper says is what the signature covers.

The font must cover Vietnamese: DejaVu Sans (Debian `fonts-dejavu-core`) by default."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

from backends.onestop.calendar import VIETNAM

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
REGULAR, BOLD = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"
FAMILY = "result"
QR_SIZE = 40  # mm


class FontMissing(RuntimeError):
    """No Unicode font to print Vietnamese with."""


@dataclass(frozen=True)
class ResultSheet:
    commune: str  # "Xã La Bằng"
    title: str  # the procedure, "Đăng ký khai sinh"
    dossier_code: str
    decided_at: dt.datetime
    verification_code: str
    verify_url: str
    particulars: Sequence[tuple[str, str]] = ()  # (label, value), in print order
    signer: str = ""


def render_result_pdf(sheet: ResultSheet, *, font_dir: Path | None = None, compress: bool = True) -> bytes:
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_compression(compress)
    pdf.set_title(f"{sheet.title} – {sheet.dossier_code}")
    pdf.set_author(sheet.commune)
    pdf.set_creation_date(sheet.decided_at.astimezone(dt.UTC))
    pdf.set_auto_page_break(False)
    _load_fonts(pdf, font_dir or FONT_DIR)
    pdf.add_page()
    pdf.set_margins(18, 15, 18)
    _header(pdf, sheet)
    _body(pdf, sheet)
    _footer(pdf, sheet)
    return bytes(pdf.output())


def _load_fonts(pdf: FPDF, font_dir: Path) -> None:
    regular = font_dir / REGULAR
    if not regular.is_file():
        raise FontMissing(f"no Vietnamese font at {regular}: install fonts-dejavu-core "
                          "(apt-get install fonts-dejavu-core)")
    bold = font_dir / BOLD
    pdf.add_font(FAMILY, "", str(regular))
    pdf.add_font(FAMILY, "B", str(bold if bold.is_file() else regular))


def _header(pdf: FPDF, sheet: ResultSheet) -> None:
    half = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    top = pdf.get_y()
    pdf.set_font(FAMILY, "", 10)
    pdf.multi_cell(half, 5, "ỦY BAN NHÂN DÂN", align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font(FAMILY, "B", 10)
    pdf.multi_cell(half, 5, sheet.commune.upper(), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_xy(pdf.l_margin + half, top)
    pdf.set_font(FAMILY, "B", 10)
    pdf.multi_cell(half, 5, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C", new_x="LEFT", new_y="NEXT")
    pdf.multi_cell(half, 5, "Độc lập – Tự do – Hạnh phúc", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    day = sheet.decided_at.astimezone(VIETNAM)
    place = sheet.commune.removeprefix("Xã ").removeprefix("xã ")
    pdf.set_font(FAMILY, "", 10)
    pdf.cell(0, 6, f"{place}, ngày {day:%d} tháng {day:%m} năm {day:%Y}", align="R",
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)


def _body(pdf: FPDF, sheet: ResultSheet) -> None:
    pdf.set_font(FAMILY, "B", 15)
    pdf.multi_cell(0, 8, "KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "B", 13)
    pdf.multi_cell(0, 8, sheet.title.upper(), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)
    day = sheet.decided_at.astimezone(VIETNAM)
    rows = [("Mã hồ sơ", sheet.dossier_code), ("Kết quả", "Đã được duyệt"),
            ("Ngày quyết định", f"{day:%d/%m/%Y}"), *sheet.particulars]
    label_width = 55
    for label, value in rows:
        pdf.set_font(FAMILY, "", 11)
        y = pdf.get_y()
        pdf.multi_cell(label_width, 7, f"{label}:", new_x="RIGHT", new_y="TOP")
        pdf.set_font(FAMILY, "B", 11)
        pdf.multi_cell(0, 7, value, new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(max(pdf.get_y(), y + 7))


def _footer(pdf: FPDF, sheet: ResultSheet) -> None:
    top = pdf.h - 20 - QR_SIZE
    pdf.set_draw_color(150, 150, 150)
    pdf.line(pdf.l_margin, top - 4, pdf.w - pdf.r_margin, top - 4)
    qr = _qr_png(sheet.verify_url)
    if qr is not None:
        pdf.image(io.BytesIO(qr), x=pdf.l_margin, y=top, w=QR_SIZE, h=QR_SIZE)
    left = pdf.l_margin + QR_SIZE + 6
    pdf.set_xy(left, top + 2)
    pdf.set_font(FAMILY, "", 10)
    pdf.multi_cell(0, 5, "Văn bản điện tử được ký số. Kiểm tra tính hợp lệ bằng cách quét mã QR "
                   "hoặc mở địa chỉ dưới đây và nhập mã xác minh.", new_x="LEFT", new_y="NEXT")
    pdf.set_font(FAMILY, "B", 14)
    pdf.multi_cell(0, 9, f"Mã xác minh: {sheet.verification_code}", new_x="LEFT", new_y="NEXT")
    pdf.set_font(FAMILY, "", 9)
    pdf.multi_cell(0, 5, sheet.verify_url, new_x="LEFT", new_y="NEXT")
    if sheet.signer:
        pdf.multi_cell(0, 5, f"Ký bởi: {sheet.signer}", new_x="LEFT", new_y="NEXT")


def _qr_png(url: str) -> bytes | None:
    try:
        import qrcode
    except ImportError:  # the code and the address are printed anyway
        return None
    buffer = io.BytesIO()
    qrcode.make(url, box_size=8, border=2).save(buffer)
    return buffer.getvalue()
