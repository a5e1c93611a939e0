"""`GET /verify/{code}` through the real app, and `xaso keys init` / `xaso verify FILE` as subprocesses
and in-process: the signed JSON, the signed result PDF (PAdES), and files that are neither."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from backends.onestop.result_pdf import FONT_DIR, REGULAR, ResultSheet, render_result
from bots.cli import main as xaso_main
from core.config import Settings
from core.db import Database
from core.signing import KeySet, SignedRecord, create_commune_keys, load_keys, sign_and_store
from core.signing.pdf import PdfSeal, sign_pdf
from core.signing.store import SignedDocumentRow
from nlu.engine import NLUEngine
from tests.support.served import served_client

DOCUMENT = {"title": "Trích lục khai sinh", "họ tên": "Lò Văn Páo", "ngày sinh": "03/04/2026"}
TIMEOUT = 60.0


def xaso(var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("XASO_")}
    env.update(XASO_VAR_DIR=str(var_dir), XASO_SECRET_KEY="verify-test-secret",
               XASO_COMMUNE_NAME="Xã La Bằng")
    return subprocess.run([sys.executable, "-m", "bots.cli", *args], capture_output=True, text=True,
                          env=env, timeout=TIMEOUT, cwd=var_dir.parent, check=False)


def test_cli_keys_init_and_verify(tmp_path: Path) -> None:
    var = tmp_path / "var"
    made = xaso(var, "keys", "init")
    assert made.returncode == 0, made.stderr
    assert "Xã La Bằng" in made.stdout
    for name in ("signing.key", "root-ca.key"):
        assert stat.S_IMODE((var / "keys" / name).stat().st_mode) == 0o600
    before = (var / "keys" / "signing.key").read_bytes()
    again = xaso(var, "keys", "init")
    assert again.returncode == 1 and "--force" in again.stderr
    assert (var / "keys" / "signing.key").read_bytes() == before

    envelope = load_keys(var / "keys").signer().sign(DOCUMENT, kind="dossier_result")
    good = tmp_path / "good.json"
    good.write_text(envelope.dumps(indent=2), encoding="utf-8")
    valid = xaso(var, "verify", str(good))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert valid.stdout.startswith("VALID") and "Xã La Bằng" in valid.stdout

    altered = tmp_path / "altered.json"
    altered.write_text(good.read_text(encoding="utf-8").replace("Lò Văn Páo", "Lò Văn Pao"), encoding="utf-8")
    refused = xaso(var, "verify", str(altered))
    assert refused.returncode == 1
    assert "NOT VALID" in refused.stdout and "altered" in refused.stdout

    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json", encoding="utf-8")
    assert xaso(var, "verify", str(garbage)).returncode == 2
    assert xaso(var, "verify", str(tmp_path / "missing.json")).returncode == 2

    # Offline check against a root given by hand; an unrelated root does not vouch for it.
    stranger = create_commune_keys(tmp_path / "stranger", "Xã Khác")
    assert xaso(var, "verify", "--trust", str(var / "keys" / "root-ca.pem"), str(good)).returncode == 0
    untrusted = xaso(var, "verify", "--trust", str(tmp_path / "stranger" / "root-ca.pem"), str(good))
    assert untrusted.returncode == 1 and "untrusted_chain" in untrusted.stdout
    assert stranger.root != load_keys(var / "keys").root


@pytest.fixture
async def signing_client(settings: Settings, database: Database,
                         nlu_engine: NLUEngine) -> AsyncIterator[TestClient]:
    # The settings fixture made the commune's keys, as a first start does.
    async with served_client(settings, database, nlu_engine) as test_client:
        yield test_client


async def store(settings: Settings, database: Database) -> SignedRecord:
    signer = load_keys(settings.var_dir / "keys").signer()
    async with database.session() as session:
        return await sign_and_store(session, signer, "dossier_result", "LB-2026-000007", DOCUMENT)


async def test_verify_page_and_json(signing_client: TestClient, settings: Settings,
                                    database: Database) -> None:
    record = await store(settings, database)
    page = await signing_client.get(f"/verify/{record.code}")
    assert page.status == 200 and page.content_type == "text/html"
    html = await page.text()
    assert "Văn bản hợp lệ" in html and "Lò Văn Páo" in html and settings.commune_name in html
    assert "data:image/png;base64," in html  # the QR code of the page's own address
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]

    answer = await signing_client.get(f"/verify/{record.code.lower()}.json")
    assert answer.status == 200
    body = await answer.json()
    assert body["valid"] is True and body["reasons"] == [] and body["code"] == record.code
    assert body["document"] == DOCUMENT and body["subject"] == "LB-2026-000007"
    assert body["verify_url"] == f"http://127.0.0.1:8080/verify/{record.code}"
    assert body["envelope"]["code"] == record.code


async def test_tampered_record_is_shown_as_altered(signing_client: TestClient, settings: Settings,
                                                   database: Database) -> None:
    record = await store(settings, database)
    async with database.session() as session:
        row = await session.get(SignedDocumentRow, record.code)
        assert row is not None
        row.envelope = row.envelope.replace("03/04/2026", "03/04/2025")
    page = await signing_client.get(f"/verify/{record.code}")
    html = await page.text()
    assert page.status == 200 and "Văn bản đã bị sửa đổi hoặc không hợp lệ" in html
    assert "Văn bản hợp lệ" not in html
    body = await (await signing_client.get(f"/verify/{record.code}.json")).json()
    assert body["valid"] is False and body["reasons"] == ["altered"]


async def test_unknown_code_is_a_polite_404(signing_client: TestClient) -> None:
    for code in ("ABCDEFGHJK", "<script>", "x" * 300):
        page = await signing_client.get(f"/verify/{code}")
        assert page.status == 404 and page.content_type == "text/html"
        assert "Không tìm thấy văn bản" in await page.text()
    answer = await signing_client.get("/verify/ABCDEFGHJK.json")
    assert answer.status == 404
    assert (await answer.json())["error"] == "not_found"


async def test_verify_page_without_keys_says_it_cannot_vouch(settings: Settings, database: Database,
                                                             nlu_engine: NLUEngine) -> None:
    keys = settings.var_dir / "keys"
    shutil.rmtree(keys)
    async with served_client(settings, database, nlu_engine) as client:
        # Keys made after the service started: the running service has no trust anchor loaded.
        create_commune_keys(keys, settings.commune_name)
        record = await store(settings, database)
        body = await (await client.get(f"/verify/{record.code}.json")).json()
    assert body["valid"] is False and body["reasons"] == ["no_trust_anchor"]
    assert json.dumps(body)  # still a complete answer


# ---------------------------------------------------------------------------------------------------
# xaso verify FILE, in-process: a signed PDF, the JSON, and what is neither

PDF_CODE = "ABCD234XYZ"
SIGNED_AT = dt.datetime(2026, 3, 9, 2, 5, 41, tzinfo=dt.UTC)  # 09:05 in Vietnam
needs_font = pytest.mark.skipif(not (FONT_DIR / REGULAR).is_file(), reason="fonts-dejavu-core missing")


def signed_result_pdf(keys: KeySet) -> bytes:
    sheet = ResultSheet(commune="Xã La Bằng", title="Đăng ký khai sinh", dossier_code="LB-2026-000007",
                        decided_at=SIGNED_AT, verification_code=PDF_CODE,
                        verify_url=f"http://127.0.0.1:8080/verify/{PDF_CODE}", signer="Xã La Bằng",
                        signer_title="Chủ tịch", signer_name="Hoàng Văn Minh", signed_at=SIGNED_AT)
    rendered = render_result(sheet)
    seal = PdfSeal(document_number=PDF_CODE, reason="Kết quả hồ sơ LB-2026-000007", location="Xã La Bằng",
                   name="Hoàng Văn Minh, Chủ tịch", box=rendered.signature_box)
    return asyncio.run(sign_pdf(rendered.pdf, keys.signer(), seal, signed_at=SIGNED_AT))


Run = Callable[[Path], tuple[int, str]]  # xaso verify FILE → exit code, what it printed


@pytest.fixture
def verify_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str]) -> tuple[KeySet, Run]:
    for name in [key for key in os.environ if key.startswith("XASO_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("XASO_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("XASO_SECRET_KEY", "verify-test-secret")
    keys = create_commune_keys(tmp_path / "var" / "keys", "Xã La Bằng", now=SIGNED_AT - dt.timedelta(days=1))

    def run(path: Path) -> tuple[int, str]:
        capsys.readouterr()
        code = xaso_main(["verify", str(path)])
        return code, capsys.readouterr().out

    return keys, run


@needs_font
def test_cli_verifies_the_signed_result_pdf(verify_cli: tuple[KeySet, Run], tmp_path: Path) -> None:
    keys, run = verify_cli
    pdf = tmp_path / "ket-qua.pdf"
    pdf.write_bytes(signed_result_pdf(keys))
    code, out = run(pdf)
    assert code == 0, out
    assert out.startswith(f"VALID: {pdf} is a signed PDF")
    for expected in ("Xã La Bằng", f"document number: {PDF_CODE}", "09/03/2026 09:05 (Vietnam time, UTC+7)",
                     "on behalf of: Hoàng Văn Minh, Chủ tịch", "certified by: Xã La Bằng - CA gốc"):
        assert expected in out, expected

    flipped = bytearray(pdf.read_bytes())
    flipped[flipped.index(b"/MediaBox") + 1] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(flipped))
    code, out = run(tampered)
    assert code == 1 and out.startswith("NOT VALID") and "altered" in out

    unsigned = tmp_path / "unsigned.pdf"
    unsigned.write_bytes(render_result(ResultSheet("Xã La Bằng", "Đăng ký khai sinh", "LB-2026-000007",
                                                   SIGNED_AT, PDF_CODE, "http://x/verify")).pdf)
    code, out = run(unsigned)
    assert code == 2 and "not_signed" in out


def test_cli_names_the_accepted_kinds(verify_cli: tuple[KeySet, Run], tmp_path: Path) -> None:
    keys, run = verify_cli
    envelope = tmp_path / "result.json"
    envelope.write_text(keys.signer().sign(DOCUMENT, kind="dossier_result").dumps(), encoding="utf-8")
    code, out = run(envelope)
    assert code == 0 and out.startswith("VALID") and "(Vietnam time, UTC+7)" in out

    for name, content in (("notes.txt", "Xin chào, đây là một tệp văn bản.\n"), ("broken.json", "{oops")):
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        code, out = run(path)
        assert code == 2, out
        assert "FILE may be:" in out and "PDF" in out and "/verify/CODE.json" in out
    code, out = run(tmp_path / "notes.txt")
    assert out.startswith("NOT READABLE") and "neither a signed PDF nor a signed JSON" in out


def test_verify_help_names_both_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        xaso_main(["verify", "--help"])
    assert done.value.code == 0
    assert "PDF" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------
# GET /verify/{code} in words people read

RESULT = {
    "commune": "Xã La Bằng", "dossier_code": "LB-2026-000007", "procedure": "birth_registration",
    "title": "Đăng ký khai sinh", "decision": "approved", "decided_at": "2026-03-08T23:10:00+00:00",
    "particulars": [["Họ tên trẻ", "Nguyễn Văn Bình"]],
}


async def test_verify_page_shows_vietnamese_labels_values_and_local_time(
        signing_client: TestClient, settings: Settings, database: Database) -> None:
    signer = load_keys(settings.var_dir / "keys").signer()
    async with database.session() as session:
        record = await sign_and_store(session, signer, "dossier_result", "LB-2026-000007", RESULT)
        await session.commit()
    html = await (await signing_client.get(f"/verify/{record.code}")).text()
    for expected in ("Thủ tục / Procedure", "Đăng ký khai sinh", "Kết quả / Decision", "Đã được duyệt",
                     "Mã hồ sơ / Dossier code", "Cơ quan ban hành / Issued by",
                     "09/03/2026 06:10 (giờ Việt Nam, UTC+7)", "Nguyễn Văn Bình"):
        assert expected in html, expected
    for machine in ("decided_at", "dossier_code", "birth_registration", "approved", "+00:00"):
        assert machine not in html, machine
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", html)
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d \(giờ Việt Nam", html)  # the signing time too

    body = await (await signing_client.get(f"/verify/{record.code}.json")).json()
    assert body["document"]["decided_at"] == RESULT["decided_at"]  # machines keep what was signed
