"""A province's keys: its root CA (`xaso keys init --province`) certifies each commune's signing key
(`xaso keys issue CODE`), each commune signs with its own and trusts the province's, `/verify/{code}`
names the commune that signed, and a first start makes keys for every served commune."""

from __future__ import annotations

import shutil
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.x509.oid import NameOID

from bots.assistant import Assistant
from bots.cli import build_parser
from bots.demo import ensure_signing_keys
from bots.signing_cli import keys_init, keys_issue
from core.config import Settings
from core.db import Database
from core.province import keys_dir
from core.signing import (
    Keyring,
    KeySet,
    Reason,
    SignedRecord,
    create_commune_keys,
    create_province_ca,
    issue_commune_keys,
    load_keys,
    sign_and_store,
    verify_json,
)
from nlu.engine import NLUEngine
from tests.support.cli import Xaso, explain
from tests.support.served import served_client

PROVINCE_CA = "Sở Khoa học và Công nghệ tỉnh Thái Nguyên"
DOCUMENT_SM = {"commune": "Xã Sảng Mộc", "dossier_code": "SM-2026-000003",
               "procedure": "birth_registration", "title": "Đăng ký khai sinh", "decision": "approved",
               "decided_at": "2026-03-09T02:05:41+00:00", "particulars": [["Họ tên trẻ", "Ma Thị Hoa"]]}
DOCUMENT_LB = {**DOCUMENT_SM, "commune": "Xã La Bằng", "dossier_code": "LB-2026-000004",
               "particulars": [["Họ tên trẻ", "Lò Văn Páo"]]}


def common_name(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------------------------------------------
# xaso keys init --province / xaso keys issue, as the operator runs them


@pytest.fixture
def xaso(tmp_path: Path) -> Xaso:
    made = Xaso.make(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'never.db'}", tmp_path / "var")
    made.env.update(XASO_COMMUNES="LB,SM")
    return made


def test_cli_province_ca_issues_each_communes_keys(xaso: Xaso, tmp_path: Path) -> None:
    var = tmp_path / "var"
    province = var / "keys" / "province"
    made = xaso("keys", "init", "--province")
    assert made.returncode == 0, explain(made)
    assert PROVINCE_CA in made.stdout and "xaso keys issue" in made.stdout
    assert mode(province) == 0o700 and mode(province / "root-ca.key") == 0o600
    root = x509.load_pem_x509_certificate((province / "root-ca.pem").read_bytes())
    assert common_name(root) == f"{PROVINCE_CA} - CA gốc"
    assert root.subject.get_attributes_for_oid(NameOID.STATE_OR_PROVINCE_NAME)[0].value == "tỉnh Thái Nguyên"
    before = (province / "root-ca.key").read_bytes()
    again = xaso("keys", "init", "--province")
    assert again.returncode == 1 and "--force" in again.stderr, explain(again)
    assert (province / "root-ca.key").read_bytes() == before

    for code, name in (("LB", "Xã La Bằng"), ("SM", "Xã Sảng Mộc")):
        issued = xaso("keys", "issue", code)
        assert issued.returncode == 0, explain(issued)
        folder = var / "keys" / "communes" / code
        assert f"UBND {name}" in issued.stdout and str(folder) in issued.stdout
        assert mode(folder / "signing.key") == 0o600 and not (folder / "root-ca.key").exists()
        keys = load_keys(folder)
        assert common_name(keys.certificate) == f"UBND {name}" and keys.certificate.issuer == root.subject
        assert keys.root == root and keys.chain == (root,)  # chain.pem ends with the province root
        assert keys_dir(var, code, "LB") == folder  # the home commune's own folder now takes precedence
    refused = xaso("keys", "issue", "SM")
    assert refused.returncode == 1 and "--force" in refused.stderr, explain(refused)

    unknown = xaso("keys", "issue", "TT")
    assert unknown.returncode == 2, explain(unknown)
    assert "unknown commune TT" in unknown.stderr and "LB, SM" in unknown.stderr
    assert "Traceback" not in unknown.stderr + unknown.stdout
    assert not (var / "keys" / "communes" / "TT").exists()

    # `xaso verify` of a province trusts what any of its communes signed.
    signed = tmp_path / "sm.json"
    sm_keys = load_keys(var / "keys" / "communes" / "SM")
    signed.write_text(sm_keys.signer().sign(DOCUMENT_SM, kind="x").dumps(), encoding="utf-8")
    checked = xaso("verify", str(signed))
    assert checked.returncode == 0 and "UBND Xã Sảng Mộc" in checked.stdout, explain(checked)


def test_cli_issue_needs_the_province_ca_and_a_served_commune(xaso: Xaso, tmp_path: Path) -> None:
    missing = xaso("keys", "issue", "SM")
    assert missing.returncode == 1 and "xaso keys init --province" in missing.stderr, explain(missing)
    assert "Traceback" not in missing.stderr
    assert not (tmp_path / "var" / "keys" / "communes").exists()
    alone = Xaso(xaso.cwd, {key: value for key, value in xaso.env.items() if key != "XASO_COMMUNES"})
    assert alone("keys", "init", "--province").returncode == 0
    outside = alone("keys", "issue", "SM")  # SM is not served without XASO_COMMUNES
    assert outside.returncode == 2 and "unknown commune SM" in outside.stderr, explain(outside)
    wrong = alone("keys", "init", "--province", "--import-cert", "a.pem", "--import-key", "a.key")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr, explain(wrong)


# ---------------------------------------------------------------------------------------------------
# Each commune's keyring


def province_settings(var: Path) -> Settings:
    return Settings(_env_file=None, var_dir=var, communes="LB,SM", secret_key="province-keys-test")


def run(command: str, settings: Settings, *args: str) -> tuple[int, str, str]:
    import io

    out, err = io.StringIO(), io.StringIO()
    parsed = build_parser().parse_args(["keys", command, *args])
    code = (keys_issue if command == "issue" else keys_init)(settings, parsed, out, err)
    return code, out.getvalue(), err.getvalue()


def keyring_of(var: Path, code: str) -> Keyring:
    keyring = Keyring()
    keyring.load(keys_dir(var, code, "LB"))
    return keyring


def test_each_communes_keyring_signs_and_trusts_the_province(tmp_path: Path) -> None:
    var = tmp_path / "var"
    settings = province_settings(var)
    assert run("init", settings, "--province", "--name", "Sở Thông tin tỉnh Thái Nguyên")[0] == 0
    assert run("issue", settings, "lb", "SM")[0] == 0  # several at once, any case
    root = x509.load_pem_x509_certificate((var / "keys" / "province" / "root-ca.pem").read_bytes())
    assert common_name(root) == "Sở Thông tin tỉnh Thái Nguyên - CA gốc"
    lb, sm = keyring_of(var, "LB"), keyring_of(var, "SM")
    assert lb.signer is not None and sm.signer is not None
    assert common_name(sm.signer.certificate) == "UBND Xã Sảng Mộc"
    by_sm = sm.signer.sign(DOCUMENT_SM, kind="dossier_result").dumps()
    by_lb = lb.signer.sign(DOCUMENT_LB, kind="dossier_result").dumps()

    assert verify_json(by_sm, [root]).ok  # against the province root alone, as anyone checks it offline
    for keyring in (lb, sm):  # anywhere in the province
        for raw, signer in ((by_sm, "UBND Xã Sảng Mộc"), (by_lb, "UBND Xã La Bằng")):
            checked = keyring.verify(raw)
            assert checked.ok and checked.signer_name == signer, checked
    assert sm.signs_as(sm.signer.certificate.subject.rfc4514_string())
    assert not sm.signs_as(lb.signer.certificate.subject.rfc4514_string())
    altered = by_sm.replace("Ma Thị Hoa", "Ma Thị Hòa")
    assert lb.verify(altered).reasons == (Reason.ALTERED,)

    # Another province's commune, or a commune's own CA, is not one of this province's.
    stranger = create_province_ca(tmp_path / "other", "Sở Khác tỉnh Bắc Kạn")
    foreign = issue_commune_keys(tmp_path / "other-commune", stranger, "Xã Khác")
    forged = foreign.signer().sign(DOCUMENT_SM, kind="dossier_result").dumps()
    assert sm.verify(forged).reasons == (Reason.UNTRUSTED_CHAIN, Reason.UNKNOWN_SIGNER)
    assert not verify_json(forged, [root]).ok


def test_issuing_for_the_home_commune_keeps_trusting_its_old_keys(tmp_path: Path) -> None:
    var = tmp_path / "var"
    settings = province_settings(var)
    old: KeySet = create_commune_keys(var / "keys", "Xã La Bằng")  # a commune's own CA, from before
    signed_before = old.signer().sign(DOCUMENT_LB, kind="dossier_result").dumps()
    assert keys_dir(var, "LB", "LB") == var / "keys"
    assert run("init", settings, "--province")[0] == 0
    code, out, _ = run("issue", settings, "LB")
    assert code == 0 and "stay trusted" in out
    assert keys_dir(var, "LB", "LB") == var / "keys" / "communes" / "LB"
    keyring = keyring_of(var, "LB")
    assert keyring.signer is not None and common_name(keyring.signer.certificate) == "UBND Xã La Bằng"
    assert keyring.verify(signed_before).ok  # what the old key signed still verifies
    assert keyring.verify(keyring.signer.sign(DOCUMENT_LB, kind="x").dumps()).ok
    # Issued again with --force: the replaced certificate stays trusted too.
    first = keyring.signer.sign(DOCUMENT_LB, kind="x").dumps()
    assert run("issue", settings, "LB")[0] == 1
    assert run("issue", settings, "LB", "--force")[0] == 0
    again = keyring_of(var, "LB")
    assert again.verify(first).ok and again.verify(signed_before).ok


# ---------------------------------------------------------------------------------------------------
# /verify/{code} names the commune that signed, and first start makes every commune's keys


@pytest.fixture
def province_var(settings: Settings) -> Settings:
    """A province whose home commune (LB) kept its own CA in var/keys (the settings fixture's) and
    whose CA issued SM's keys."""
    province = settings.model_copy(update={"communes": "LB,SM"})
    assert run("init", province, "--province")[0] == 0
    assert run("issue", province, "SM")[0] == 0
    return province


@pytest.fixture
async def province_client(province_var: Settings, database: Database,
                          nlu_engine: NLUEngine) -> AsyncIterator[TestClient]:
    async with served_client(province_var, database, nlu_engine) as test_client:
        yield test_client


async def store(database: Database, keys: KeySet, document: dict[str, object]) -> SignedRecord:
    async with database.session() as session:
        return await sign_and_store(session, keys.signer(), "dossier_result", str(document["dossier_code"]),
                                    document)


async def test_verify_page_names_the_commune_that_signed(province_client: TestClient, province_var: Settings,
                                                         database: Database) -> None:
    var = province_var.var_dir
    by_sm = await store(database, load_keys(var / "keys" / "communes" / "SM"), DOCUMENT_SM)
    by_lb = await store(database, load_keys(var / "keys"), DOCUMENT_LB)

    page = await province_client.get(f"/verify/{by_sm.code}")
    html = await page.text()
    assert page.status == 200 and "Văn bản hợp lệ" in html, html
    assert "Xã ký văn bản / Signing commune</th><td>Xã Sảng Mộc" in html
    assert "UBND Xã Sảng Mộc" in html and PROVINCE_CA in html and "Ma Thị Hoa" in html
    assert "La Bằng" not in html  # not the installation's own commune's name
    body = await (await province_client.get(f"/verify/{by_sm.code}.json")).json()
    assert body["valid"] is True and body["commune"] == {"code": "SM", "name": "Xã Sảng Mộc"}
    assert body["signer_name"] == "UBND Xã Sảng Mộc"

    page = await province_client.get(f"/verify/{by_lb.code}")
    html = await page.text()
    assert page.status == 200 and "Văn bản hợp lệ" in html
    assert "Xã ký văn bản / Signing commune</th><td>Xã La Bằng" in html and "Sảng Mộc" not in html
    body = await (await province_client.get(f"/verify/{by_lb.code}.json")).json()
    assert body["valid"] is True and body["commune"] == {"code": "LB", "name": "Xã La Bằng"}


async def test_verify_page_refuses_a_stranger_claiming_a_commune(province_client: TestClient,
                                                                 database: Database, tmp_path: Path) -> None:
    stranger = create_commune_keys(tmp_path / "stranger", "Xã Sảng Mộc")  # same name, not the province's
    forged = await store(database, stranger, DOCUMENT_SM)
    body = await (await province_client.get(f"/verify/{forged.code}.json")).json()
    assert body["valid"] is False and body["reasons"] == ["untrusted_chain", "unknown_signer"]
    page = await province_client.get(f"/verify/{forged.code}")
    assert "Văn bản đã bị sửa đổi hoặc không hợp lệ" in await page.text()
    missing = await province_client.get("/verify/ABCDEFGHJK")
    text = await missing.text()
    assert missing.status == 404 and "xã đã cấp văn bản" in text and "La Bằng" not in text


async def test_first_start_makes_keys_for_every_served_commune(settings: Settings, database: Database,
                                                               nlu_engine: NLUEngine) -> None:
    shutil.rmtree(settings.var_dir / "keys")
    province = settings.model_copy(update={"communes": "LB,SM"})
    assistant = Assistant.build(province, nlu=nlu_engine, database=database)
    assert ensure_signing_keys(assistant) is True
    keys = province.var_dir / "keys"
    assert (keys / "province" / "root-ca.key").exists() and not (keys / "signing.key").exists()
    assert ensure_signing_keys(assistant) is False  # once
    await assistant.start(migrate=False)
    try:
        signatures = {}
        for local in assistant.locals():
            signer = local.services.keyring.signer
            assert signer is not None
            assert common_name(signer.certificate) == f"UBND {local.services.commune.name}"
            signatures[local.services.commune.code] = signer.sign(DOCUMENT_SM, kind="x").dumps()
        assert set(signatures) == {"LB", "SM"}
        for local in assistant.locals():
            assert all(local.services.keyring.verify(raw).ok for raw in signatures.values())
    finally:
        await assistant.services.audit.close()


async def test_first_start_of_a_commune_alone_makes_its_own_ca(settings: Settings, database: Database,
                                                               nlu_engine: NLUEngine) -> None:
    shutil.rmtree(settings.var_dir / "keys")
    assistant = Assistant.build(settings, nlu=nlu_engine, database=database)
    assert ensure_signing_keys(assistant) is True
    keys = settings.var_dir / "keys"
    assert (keys / "signing.key").exists() and (keys / "root-ca.key").exists()
    assert not (keys / "province").exists() and not (keys / "communes").exists()
    signer = assistant.services.keyring.signer
    assert signer is not None and common_name(signer.certificate) == settings.commune_name
    assert ensure_signing_keys(assistant) is False


async def test_first_start_of_a_province_keeps_the_home_communes_keys(settings: Settings, database: Database,
                                                                      nlu_engine: NLUEngine) -> None:
    home_key = (settings.var_dir / "keys" / "signing.key").read_bytes()  # the settings fixture's
    province = settings.model_copy(update={"communes": "LB,SM"})
    assistant = Assistant.build(province, nlu=nlu_engine, database=database)
    await assistant.start(migrate=False)
    try:
        assert assistant.communes["SM"].services.keyring.signer is None
        assert ensure_signing_keys(assistant) is True
        assert (settings.var_dir / "keys" / "signing.key").read_bytes() == home_key
        assert not (settings.var_dir / "keys" / "communes" / "LB").exists()
        sm = assistant.communes["SM"].services.keyring
        assert sm.signer is not None and common_name(sm.signer.certificate) == "UBND Xã Sảng Mộc"
    finally:
        await assistant.services.audit.close()
