"""`GET /verify/{code}`: the public check of a signed result, as a page for people (Vietnamese
first, with a QR code of its own address) and as JSON for machines. The page names the signed
document's fields and values as people read them (Vietnamese labels, the decision in words, times in
Vietnam time); the JSON keeps the machine keys and UTC times that were signed.

In a province (XASO_COMMUNES) a code is checked with the keys of the commune that signed it, told by
its signing certificate (or, failing that, by the commune the document names), and the page names that
commune."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from dataclasses import dataclass
from html import escape
from typing import Any

from aiohttp import web
from cryptography import x509
from sqlalchemy import select

from bots.assistant import Assistant, CommuneLocal
from bots.dialogue.base import Services
from bots.services.announcements.scheduler import hamlets, topic_label
from bots.web_json import error, json_response
from core.media import media_url
from core.models import Media
from core.signing import MalformedEnvelope, Reason, SignedRecord, Verification, find_signed, verify_url
from core.timezones import VIETNAM

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
REASON_TEXT = {
    Reason.MALFORMED: "Tệp không đúng định dạng văn bản ký số (malformed).",
    Reason.ALTERED: "Nội dung văn bản đã bị thay đổi sau khi ký (altered).",
    Reason.BAD_SIGNATURE: "Chữ ký số không khớp với văn bản (bad signature).",
    Reason.UNTRUSTED_CHAIN: "Chứng thư số không do cơ quan chứng thực tin cậy cấp (untrusted certificate).",
    Reason.EXPIRED: "Chứng thư số không còn hiệu lực vào thời điểm ký (expired certificate).",
    Reason.SIGNED_IN_FUTURE: "Thời điểm ký nằm ở tương lai (signing time in the future).",
    Reason.UNKNOWN_SIGNER: "Người ký không phải là cơ quan này (unknown signer).",
    Reason.NO_TRUST_ANCHOR: "Máy chủ chưa có chứng thư gốc để kiểm tra (no trust anchor configured).",
    Reason.NOT_SIGNED: "Tệp PDF không có chữ ký số (not signed).",
}
# The keys of the documents xaso signs (dossier results, announcements, skills certificates), as people
# read them; a key
# not listed is already a printed label ("Họ tên trẻ") and shows as it is. None: not shown.
FIELD_LABELS: dict[str, str | None] = {
    "commune": "Cơ quan ban hành / Issued by",
    "dossier_code": "Mã hồ sơ / Dossier code",
    "procedure": "Thủ tục / Procedure",
    "decision": "Kết quả / Decision",
    "decided_at": "Thời điểm quyết định / Decided at",
    "text": "Nội dung / Text",
    "topic": "Chủ đề / Topic",
    "hamlets": "Gửi đến / Sent to",
    "publish_at": "Thời điểm phát hành / Published at",
    "audio": "Bản đọc / Audio",
    "course": "Khóa học / Course",
    "learner": "Người học / Learner",
    "completed_at": "Hoàn thành lúc / Completed at",
    "lessons": "Các bài đã học / Lessons",
    "lang": None,
}
DECISIONS = {"approved": "Đã được duyệt", "rejected": "Không được duyệt"}
TIMES = frozenset({"decided_at", "publish_at", "completed_at"})


@dataclass(frozen=True)
class Found:
    record: SignedRecord
    checked: Verification
    local: CommuneLocal  # the commune whose keys checked it: the signer's, else the installation's own
    known: bool  # whether that commune was told by the document (its certificate or its "commune")


class VerifyPages:
    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    def routes(self) -> list[web.RouteDef]:
        # The .json route first: the page's pattern would not match a dot, but order keeps it obvious.
        return [web.get("/verify/{code:[^/.]+}.json", self.as_json),
                web.get("/verify/{code:[^/.]+}", self.as_page)]

    async def _lookup(self, request: web.Request) -> Found | None:
        async with self.assistant.database.session() as session:
            record = await find_signed(session, request.match_info["code"])
        if record is None:
            return None
        local, known = signing_commune(self.assistant.locals(), record)
        return Found(record, local.services.keyring.verify(record.envelope_json), local, known)

    async def _pdf_url(self, record: SignedRecord) -> str | None:
        """A fresh signed link to the record's PDF, if it has one still kept (erased with its owner)."""
        if record.pdf_media_id is None:
            return None
        async with self.assistant.database.session() as session:
            kept = await session.scalar(select(Media.id).where(Media.id == record.pdf_media_id))
        if kept is None:
            return None
        return media_url(self.assistant.services.hasher, self.assistant.settings.public_url, kept)

    async def as_json(self, request: web.Request) -> web.Response:
        found = await self._lookup(request)
        if found is None:
            return error(404, "not_found", "Không tìm thấy văn bản với mã này. / No document with this code.")
        record, commune = found.record, found.local.services.commune
        public_url = self.assistant.settings.public_url
        signed_by = {"commune": {"code": commune.code, "name": commune.name}} if found.known else {}
        return json_response({**found.checked.to_json(), "code": record.code, "subject": record.subject,
                              **signed_by, "verify_url": record.verify_url(public_url),
                              "envelope": _parsed(record.envelope_json)})

    async def as_page(self, request: web.Request) -> web.Response:
        found = await self._lookup(request)
        settings = self.assistant.settings
        several = len(self.assistant.locals()) > 1
        if found is None:
            # In a province the code does not tell whose office to ask.
            office = "xã đã cấp văn bản" if several else self.assistant.services.commune.name
            return _html(404, "Không tìm thấy văn bản", _not_found(office or settings.commune_name))
        record, services = found.record, found.local.services
        url = verify_url(settings.public_url, record.code)
        pdf_url = await self._pdf_url(record)
        commune = services.commune.name or settings.commune_name
        return _html(200, _headline(found.checked.ok),
                     render_result(record, found.checked, url, commune, pdf_url, Names(services),
                                   signed_by=commune if several and found.known else None))


def signing_commune(locals_: list[CommuneLocal], record: SignedRecord) -> tuple[CommuneLocal, bool]:
    """The commune that signed `record`, and whether the document told it: the one whose keys include
    its signing certificate, else the one its "commune" field names; else the installation's own."""
    try:
        envelope = record.envelope()
        subject = x509.load_pem_x509_certificate(envelope.certificate.encode()).subject.rfc4514_string()
        named = envelope.document.get("commune")
    except (MalformedEnvelope, ValueError, AttributeError):
        return locals_[0], False
    by_key = next((local for local in locals_ if local.services.keyring.signs_as(subject)), None)
    by_name = next((local for local in locals_ if named and local.services.commune.name == named), None)
    found = by_key or by_name
    return (found, True) if found is not None else (locals_[0], False)


class Names:
    """Machine values of signed documents in words: topics and hamlets of announcements."""

    def __init__(self, services: Services | None = None) -> None:
        self.services = services

    def topic(self, topic_id: str) -> str:
        return topic_label(self.services, topic_id, "vi") if self.services else topic_id

    def hamlets(self, ids: list[str]) -> str:
        if not ids:
            return "Toàn xã"
        known = hamlets(self.services) if self.services else {}
        return ", ".join(known.get(item, item) for item in ids)


def render_result(record: SignedRecord, checked: Verification, url: str, commune: str,
                  pdf_url: str | None = None, names: Names | None = None,
                  signed_by: str | None = None) -> str:
    """`signed_by`: in a province, the name of the commune that signed it."""
    status = "ok" if checked.ok else "bad"
    english = "This document is valid." if checked.ok else "This document was altered or is not valid."
    parts = [f'<p class="status {status}">{escape(_headline(checked.ok))}</p>',
             f'<p class="en">{english}</p>']
    if not checked.ok:
        parts.append("<ul>" + "".join(f"<li>{escape(REASON_TEXT[reason])}</li>"
                                      for reason in checked.reasons) + "</ul>")
    rows = [("Mã xác minh, số văn bản / Verification code", record.code),
            *([("Xã ký văn bản / Signing commune", signed_by)] if signed_by else []),
            ("Người ký / Signed by", checked.signer_name or "?"),
            ("Chứng thư do / Certified by", checked.issuer_name or "?"),
            ("Thời điểm ký / Signed at", _when(checked.signed_at))]
    parts.append(_table(rows))
    document = checked.envelope.document if checked.envelope else None
    if document is not None:
        title = document.get("title")
        parts.append(f"<h2>{escape(str(title)) if title else 'Nội dung văn bản / Content'}</h2>")
        parts.append(_table(document_rows(document, names or Names())))
        parts.append(_table(_particulars(document.get("particulars"))))
    if pdf_url is not None:
        parts.append(f'<p><a href="{escape(pdf_url)}">Tải bản PDF / Download the PDF</a></p>')
    qr = _qr_data_uri(url)
    if qr:
        parts.append(f'<p><img src="{qr}" alt="QR" width="180" height="180"></p>')
    parts.append(f'<p class="small">{escape(url)}<br>{escape(commune)}</p>')
    return "\n".join(parts)


def _headline(ok: bool) -> str:
    return "Văn bản hợp lệ" if ok else "Văn bản đã bị sửa đổi hoặc không hợp lệ"


def _not_found(commune: str) -> str:
    return ("<p class=\"status bad\">Không tìm thấy văn bản với mã này.</p>"
            "<p>Xin kiểm tra lại mã in trên văn bản (10 ký tự, không có chữ O và I), "
            f"hoặc liên hệ bộ phận một cửa của {escape(commune)}.</p>"
            "<p class=\"en\">No document has this code. Please check the code printed on the paper.</p>")


def _html(status: int, title: str, body: str) -> web.Response:
    page = f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:40rem;margin:1rem auto;padding:0 1rem;line-height:1.4}}
.status{{font-size:1.4rem;font-weight:bold;padding:.6rem;border-radius:.4rem}}
.ok{{background:#dcfce7;color:#14532d}}.bad{{background:#fee2e2;color:#7f1d1d}}
.en,.small{{color:#555;font-size:.9rem}}td,th{{text-align:left;vertical-align:top;padding:.2rem .5rem}}
th{{color:#444;font-weight:normal;white-space:nowrap}}</style></head>
<body><h1>Tra cứu văn bản ký số</h1>
{body}
</body></html>"""
    return web.Response(status=status, text=page, content_type="text/html", charset="utf-8",
                        headers=PAGE_HEADERS)


def _table(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{escape(key)}</th><td>{escape(value)}</td></tr>"
                               for key, value in rows) + "</table>"


def document_rows(document: dict[str, Any], names: Names) -> list[tuple[str, str]]:
    rows = []
    for key, value in document.items():
        if key in ("title", "particulars"):
            continue
        label = FIELD_LABELS.get(key, key)
        if label is not None:
            rows.append((label, _shown(key, value, document, names)))
    return rows


def _shown(key: str, value: Any, document: dict[str, Any], names: Names) -> str:
    if key in TIMES and isinstance(value, str):
        moment = _parsed_time(value)
        return _when(moment) if moment else value
    if key == "procedure":
        return str(document.get("title") or value)  # the Vietnamese name, as signed
    if key == "decision":
        return DECISIONS.get(str(value), _text(value))
    if key == "topic":
        return names.topic(str(value))
    if key == "hamlets" and isinstance(value, list):
        return names.hamlets([str(item) for item in value])
    if key == "lessons" and isinstance(value, list):
        return "; ".join(str(item) for item in value)
    if key == "audio" and isinstance(value, dict) and isinstance(value.get("seconds"), int | float):
        return f"{round(value['seconds'])} giây"
    return _text(value)


def _parsed_time(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _particulars(value: Any) -> list[tuple[str, str]]:
    """The printed fields, `[[label, value], …]`, as rows; anything else as one row of JSON."""
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(row, list) and len(row) == 2 for row in value):
        return [(_text(label), _text(shown)) for label, shown in value]
    return [("particulars", _text(value))]


def _when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "?"
    return f"{moment.astimezone(VIETNAM):%d/%m/%Y %H:%M} (giờ Việt Nam, UTC+7)"


def _qr_data_uri(url: str) -> str | None:
    try:
        import qrcode
    except ImportError:  # optional: the page stays useful without it
        return None
    image = qrcode.make(url, box_size=6, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
