"""The signed result as a one-page A4 PDF for people: the commune's header with the document number
(the verification code), the procedure, the dossier code, the decision date, the printed fields, what
to do next, the signature block (who signs, in what capacity, when) and the verification code with a
QR of the verify page. It renders the signed document; the file itself is then signed (PAdES, see
core/signing/pdf.py) in the box that `render_result` reports.

The font must cover Vietnamese: DejaVu Sans (Debian `fonts-dejavu-core`) by default."""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

from core.timezones import VIETNAM

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
REGULAR, BOLD = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"
FAMILY = "result"
QR_SIZE = 40  # mm
POINTS_PER_MM = 72 / 25.4
STAMP_W, STAMP_H = 64, 19  # mm: the signature box, which the PDF signature's widget covers


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
    signer: str = ""  # who signs: the commune, as its certificate names it
    signer_title: str = ""  # in what capacity its official decides, "Chủ tịch"
    signer_name: str = ""  # that official, "Hoàng Văn Minh"
    signed_at: dt.datetime | None = None
    in_person_note: str = ""  # the procedure's own "come to the office" note, if any
    # Other papers the commune signs on the same sheet (a digital-skills certificate): their heading,
    # the rows in place of the dossier's code, decision and date, and the notes in place of its next steps.
    heading: str = "KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"
    rows: Sequence[tuple[str, str]] | None = None
    notes: Sequence[str] | None = None


@dataclass(frozen=True)
class RenderedResult:
    pdf: bytes
    signature_box: tuple[float, float, float, float]  # on page 1, PDF points from the bottom left


def render_result_pdf(sheet: ResultSheet, *, font_dir: Path | None = None, compress: bool = True) -> bytes:
    return render_result(sheet, font_dir=font_dir, compress=compress).pdf


def render_result(sheet: ResultSheet, *, font_dir: Path | None = None,
                  compress: bool = True) -> RenderedResult:
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # ~75 INFO lines per font subset otherwise
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_compression(compress)
    pdf.set_title(f"{sheet.title} – {sheet.dossier_code}" if sheet.dossier_code else sheet.title)
    pdf.set_subject(f"Số văn bản (mã xác minh) {sheet.verification_code}"
                    + (f", hồ sơ {sheet.dossier_code}" if sheet.dossier_code else ""))
    pdf.set_author(sheet.commune)
    pdf.set_creation_date(sheet.decided_at.astimezone(dt.UTC))
    pdf.set_auto_page_break(False)
    _load_fonts(pdf, font_dir or FONT_DIR)
    pdf.add_page()
    pdf.set_margins(18, 15, 18)
    _header(pdf, sheet)
    _body(pdf, sheet)
    _next_steps(pdf, sheet)
    box = _signature_block(pdf, sheet)
    _footer(pdf, sheet)
    return RenderedResult(bytes(pdf.output()), box)


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
    pdf.multi_cell(half, 5, sheet.commune.upper(), align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font(FAMILY, "", 9)
    # The document number is the verification code: one number to quote, look up and check.
    pdf.multi_cell(half, 5, f"Số: {sheet.verification_code} (mã xác minh)", align="C",
                   new_x="LMARGIN", new_y="NEXT")
    left_bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + half, top)
    pdf.set_font(FAMILY, "B", 10)
    pdf.multi_cell(half, 5, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C", new_x="LEFT", new_y="NEXT")
    pdf.multi_cell(half, 5, "Độc lập – Tự do – Hạnh phúc", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), left_bottom))
    pdf.ln(2)
    day = sheet.decided_at.astimezone(VIETNAM)
    place = sheet.commune.removeprefix("Xã ").removeprefix("xã ")
    pdf.set_font(FAMILY, "", 10)
    pdf.cell(0, 6, f"{place}, ngày {day:%d} tháng {day:%m} năm {day:%Y}", align="R",
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)


def _body(pdf: FPDF, sheet: ResultSheet) -> None:
    pdf.set_font(FAMILY, "B", 15)
    pdf.multi_cell(0, 8, sheet.heading, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "B", 13)
    pdf.multi_cell(0, 8, sheet.title.upper(), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)
    day = sheet.decided_at.astimezone(VIETNAM)
    rows = [*(sheet.rows if sheet.rows is not None else (
        ("Mã hồ sơ", sheet.dossier_code), ("Kết quả", "Đã được duyệt"),
        ("Ngày quyết định", f"{day:%d/%m/%Y}"))),
        *sheet.particulars]
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


def _next_steps(pdf: FPDF, sheet: ResultSheet) -> None:
    pdf.ln(3)
    pdf.set_font(FAMILY, "B", 11)
    pdf.cell(0, 7, "Ghi chú" if sheet.notes is not None else "Việc cần làm tiếp theo",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 10)
    for step in next_steps(sheet):
        pdf.cell(5, 5, "•")
        pdf.multi_cell(0, 5, step, align="L", new_x="LMARGIN", new_y="NEXT")


def next_steps(sheet: ResultSheet) -> list[str]:
    if sheet.notes is not None:
        return list(sheet.notes)
    steps = [sheet.in_person_note] if sheet.in_person_note else []
    return [*steps,
            "Khi đến nhận bản giấy tại bộ phận một cửa, mang theo giấy tờ tùy thân và bản gốc các giấy tờ "
            f"đã gửi trong hồ sơ {sheet.dossier_code} để đối chiếu.",
            f"Giữ tệp PDF này: đây là kết quả điện tử có chữ ký số của {sheet.commune}; phần mềm đọc PDF "
            "hiển thị chữ ký số khi mở tệp.",
            "Bất kỳ ai (cơ quan, trường học, ngân hàng…) cũng kiểm tra được văn bản này: quét mã QR bên "
            "dưới hoặc mở địa chỉ xác minh và nhập mã xác minh."]


def _signature_block(pdf: FPDF, sheet: ResultSheet) -> tuple[float, float, float, float]:
    """The right half: on whose behalf, the official's title, the signature box and name, as on paper
    results; returns the box in PDF points for the signature's widget."""
    half = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    left = pdf.l_margin + half
    pdf.set_xy(left, pdf.get_y() + 4)
    pdf.set_font(FAMILY, "B", 10)
    pdf.multi_cell(half, 5, "TM. ỦY BAN NHÂN DÂN", align="C", new_x="LEFT", new_y="NEXT")
    if sheet.signer_title:
        pdf.multi_cell(half, 5, sheet.signer_title.upper(), align="C", new_x="LEFT", new_y="NEXT")
    x, y = left + (half - STAMP_W) / 2, pdf.get_y() + 2
    _stamp(pdf, sheet, x, y)
    pdf.set_xy(left, y + STAMP_H + 2)
    if sheet.signer_name:
        pdf.set_font(FAMILY, "B", 11)
        pdf.multi_cell(half, 6, sheet.signer_name, align="C", new_x="LMARGIN", new_y="NEXT")
    return (x * POINTS_PER_MM, (pdf.h - y - STAMP_H) * POINTS_PER_MM,
            (x + STAMP_W) * POINTS_PER_MM, (pdf.h - y) * POINTS_PER_MM)


def _stamp(pdf: FPDF, sheet: ResultSheet, x: float, y: float) -> None:
    pdf.set_draw_color(30, 64, 175)
    pdf.set_text_color(30, 64, 175)
    pdf.rect(x, y, STAMP_W, STAMP_H)
    lines = ["Văn bản đã được ký số", f"Ký bởi: {sheet.signer or sheet.commune}"]
    if sheet.signed_at is not None:
        lines.append(f"Ngày ký: {sheet.signed_at.astimezone(VIETNAM):%d/%m/%Y %H:%M}")
    pdf.set_xy(x + 2, y + 1.5)
    for index, line in enumerate(lines):
        pdf.set_font(FAMILY, "B" if index == 0 else "", 9)
        pdf.multi_cell(STAMP_W - 4, 5, line, new_x="LEFT", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


def _qr_png(url: str) -> bytes | None:
    try:
        import qrcode
    except ImportError:  # the code and the address are printed anyway
        return None
    buffer = io.BytesIO()
    qrcode.make(url, box_size=8, border=2).save(buffer)
    return buffer.getvalue()
