"""A printable A4 poster per place: its name in Vietnamese and English, where it is, its summary in both
languages and a large QR code of its audio-guide page (`{public_url}/places/{id}`), to put up at the
place. DejaVu Sans covers Vietnamese (Debian `fonts-dejavu-core`)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import qrcode
from fpdf import FPDF

from backends.onestop.result_pdf import BOLD, FONT_DIR, REGULAR, FontMissing
from backends.tourism.places import Place

QR_SIZE = 110  # mm: read from a few steps away
FAMILY = "poster"


def poster_pdf(place: Place, url: str, scan_vi: str, scan_en: str, *, font_dir: Path = FONT_DIR) -> bytes:
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    regular = font_dir / REGULAR
    if not regular.is_file():
        raise FontMissing(f"no Vietnamese font at {regular}: install fonts-dejavu-core")
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_title(place.title("vi"))
    pdf.set_author("Xã Số")
    pdf.set_auto_page_break(False)
    pdf.add_font(FAMILY, "", str(regular))
    pdf.add_font(FAMILY, "B", str(font_dir / BOLD if (font_dir / BOLD).is_file() else regular))
    pdf.add_page()
    pdf.set_margins(18, 16, 18)
    pdf.set_y(18)
    pdf.set_font(FAMILY, "B", 26)
    pdf.multi_cell(0, 12, place.title("vi"), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 16)
    pdf.set_text_color(70, 70, 70)
    pdf.multi_cell(0, 8, place.title("en"), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 12)
    pdf.multi_cell(0, 6, place.text(place.area, "vi"), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(4)
    buffer = io.BytesIO()
    qrcode.make(url, box_size=10, border=2).save(buffer)
    pdf.image(io.BytesIO(buffer.getvalue()), x=(pdf.w - QR_SIZE) / 2, y=pdf.get_y(), w=QR_SIZE, h=QR_SIZE)
    pdf.set_y(pdf.get_y() + QR_SIZE + 2)
    pdf.set_font(FAMILY, "B", 15)
    pdf.multi_cell(0, 8, scan_vi, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 12)
    pdf.multi_cell(0, 6, scan_en, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 9)
    pdf.multi_cell(0, 5, url, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)
    pdf.set_font(FAMILY, "", 12)
    pdf.multi_cell(0, 6, place.text(place.summary, "vi"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_text_color(70, 70, 70)
    pdf.multi_cell(0, 6, place.text(place.summary, "en"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def write_posters(places: list[Place], public_url: str, out: Path, scan_vi: str, scan_en: str) -> list[Path]:
    """One `<id>.pdf` per place in `out`; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for place in places:
        path = out / f"{place.id}.pdf"
        path.write_bytes(poster_pdf(place, f"{public_url.rstrip('/')}/places/{place.id}", scan_vi, scan_en))
        written.append(path)
    return written
