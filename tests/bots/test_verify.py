"""`GET /verify/{code}` through the real app, and `xaso keys init` / `xaso verify FILE` as subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bots.assistant import Assistant
from bots.server import create_app
from core.config import Settings
from core.db import Database
from core.signing import SignedRecord, create_commune_keys, load_keys, sign_and_store
from core.signing.store import SignedDocumentRow
from nlu.engine import NLUEngine

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
    app = create_app(Assistant.build(settings, nlu=nlu_engine, database=database))
    async with TestClient(TestServer(app)) as test_client:
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
    app = create_app(Assistant.build(settings, nlu=nlu_engine, database=database))
    async with TestClient(TestServer(app)) as client:
        # Keys made after the service started: the running service has no trust anchor loaded.
        create_commune_keys(keys, settings.commune_name)
        record = await store(settings, database)
        body = await (await client.get(f"/verify/{record.code}.json")).json()
    assert body["valid"] is False and body["reasons"] == ["no_trust_anchor"]
    assert json.dumps(body)  # still a complete answer
