"""VietQR: the EMVCo payload read back field by field, its CRC checked by an independent CRC
implementation and against a published example, and the PNG decoded back to the same modules."""

from __future__ import annotations

import binascii
import io

import pytest
import qrcode
import qrcode.constants
import yaml
from PIL import Image

from backends.payments import PaymentRequest
from backends.payments.vietqr import (
    BankAccount,
    VietQRPayments,
    account_payload,
    ascii_text,
    crc16_ccitt_false,
    payload,
    render_png,
)
from core.commune import Commune
from core.config import REPO_ROOT

# Published by subiz/vietqr (README, "Sử dụng"): vietqr.Generate(120000, "970415", "0011001932418",
# "ủng hộ lũ lụt"), https://github.com/subiz/vietqr/blob/master/README.md
PUBLISHED = ("00020101021238570010A00000072701270006970415011300110019324180208QRIBFTTA"
             "530370454061200005802VN62170813ung ho lu lut6304C15C")
# A static one (no amount) published by thanhtinhpas1/vietqr-parser (README, "Examples for build basic
# QR Code"), https://pkg.go.dev/github.com/thanhtinhpas1/vietqr-parser
PUBLISHED_STATIC = ("00020001021238570010A00000072701270006970436011308810004580860208QRIBFTTA53037045802VN"
                    "6304CD60")
ACCOUNT = BankAccount(bank_bin="970405", account_number="3100205123456",
                      account_name="Hợp tác xã Chè La Bằng", city="Thái Nguyên", bank_name="Agribank")


def parse_tlv(text: str) -> list[tuple[str, str]]:
    """Tag, two-digit length, value, again and again, consuming the string exactly."""
    fields, index = [], 0
    while index < len(text):
        tag, length = text[index:index + 2], int(text[index + 2:index + 4])
        value = text[index + 4:index + 4 + length]
        assert len(value) == length, f"field {tag} runs past the end"
        fields.append((tag, value))
        index += 4 + length
    assert index == len(text)
    return fields


def crc_ok(text: str) -> bool:
    """CRC-16/CCITT-FALSE (binascii.crc_hqx seeded with 0xFFFF) over all but the last 4 characters."""
    return text[-8:-4] == "6304" and f"{binascii.crc_hqx(text[:-4].encode('ascii'), 0xFFFF):04X}" == text[-4:]


def test_the_published_example_is_reproduced_exactly() -> None:
    assert crc_ok(PUBLISHED) and crc_ok(PUBLISHED_STATIC)
    assert payload("970415", "0011001932418", amount_vnd=120000, purpose="ủng hộ lũ lụt") == PUBLISHED


def test_crc_implementation_agrees_with_binascii() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1  # the CRC catalogue's check value
    for sample in (b"", b"A", PUBLISHED.encode(), bytes(range(256))):
        assert crc16_ccitt_false(sample) == binascii.crc_hqx(sample, 0xFFFF)


def test_an_order_payload_reads_back_field_by_field() -> None:
    text = account_payload(ACCOUNT, 150_000, "DH-000123 thanh toan")
    assert crc_ok(text)
    root = parse_tlv(text)
    assert [tag for tag, _ in root] == ["00", "01", "38", "53", "54", "58", "59", "60", "62", "63"]
    fields = dict(root)
    assert fields["00"] == "01" and fields["01"] == "12"  # dynamic: one payment of this amount
    merchant = dict(parse_tlv(fields["38"]))
    assert merchant == {"00": "A000000727", "01": merchant["01"], "02": "QRIBFTTA"}
    assert dict(parse_tlv(merchant["01"])) == {"00": "970405", "01": "3100205123456"}
    assert fields["53"] == "704" and fields["54"] == "150000" and fields["58"] == "VN"
    assert fields["59"] == "HOP TAC XA CHE LA BANG" and fields["60"] == "THAI NGUYEN"
    assert dict(parse_tlv(fields["62"])) == {"08": "DH-000123 thanh toan"}


def test_static_code_has_no_amount() -> None:
    text = account_payload(ACCOUNT)
    fields = dict(parse_tlv(text))
    assert fields["01"] == "11" and "54" not in fields and "62" not in fields and crc_ok(text)


def test_any_change_breaks_the_crc() -> None:
    text = account_payload(ACCOUNT, 150_000, "DH-000123")
    for index in range(len(text) - 4):
        changed = text[:index] + ("1" if text[index] != "1" else "2") + text[index + 1:]
        assert not crc_ok(changed)


def test_text_is_folded_to_ascii_and_bounded() -> None:
    assert ascii_text("Đặng Thị Ánh  Nguyệt", 25) == "Dang Thi Anh Nguyet"
    assert ascii_text("x" * 40, 25) == "x" * 25
    fields = dict(parse_tlv(payload("970405", "12345", amount_vnd=1, purpose="Mua chè " * 10)))
    assert len(dict(parse_tlv(fields["62"]))["08"]) <= 25


@pytest.mark.parametrize("section", [
    {"bank_bin": "97040", "account_number": "123", "account_name": "A"},
    {"bank_bin": "970405", "account_number": "12 34-5", "account_name": "A"},
    {"bank_bin": "970405", "account_number": "123", "account_name": ""},
    {"bank_bin": "970405", "account_number": "1" * 20, "account_name": "A"},
])
def test_a_malformed_bank_section_is_an_error(section: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        BankAccount.from_commune(Commune.parse({"payments": section}))


def test_no_bank_section_means_no_vietqr() -> None:
    assert BankAccount.from_commune(Commune.parse({})) is None
    assert BankAccount.from_commune(Commune.parse({"payments": {"bank_bin": "970405"}})) is None
    found = BankAccount.from_commune(Commune.parse({"payments": {
        "bank_bin": "970405", "account_number": "3100 2051 23456", "account_name": "HTX Che"}}))
    assert found is not None and found.account_number == "3100205123456"


def test_png_decodes_to_the_payload_modules() -> None:
    text = account_payload(ACCOUNT, 150_000, "DH-000123")
    image = Image.open(io.BytesIO(render_png(text, box_size=8, border=4)))
    assert image.format == "PNG"
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(text)
    code.make(fit=True)
    matrix = code.get_matrix()
    side = (len(matrix) + 2 * 4) * 8
    assert image.size == (side, side)
    pixels = image.convert("L")
    for row, cells in enumerate(matrix):  # the centre of every module is dark exactly where it should be
        for column, dark in enumerate(cells):
            value = pixels.getpixel(((column + 4) * 8 + 4, (row + 4) * 8 + 4))
            assert (value < 128) == dark
    assert pixels.getpixel((1, 1)) == 255  # the quiet zone is white


async def test_the_provider_starts_a_transfer_with_the_order_code() -> None:
    start = await VietQRPayments(ACCOUNT).start(
        PaymentRequest(order_code="DH-000123", amount_vnd=275_000, description="2 cân chè",
                       idempotency_key="order-123"))
    assert start.provider == "vietqr" and start.reference == "vietqr:DH-000123" and start.status == "pending"
    assert start.qr_payload is not None and crc_ok(start.qr_payload)
    fields = dict(parse_tlv(start.qr_payload))
    assert fields["54"] == "275000" and "DH-000123" in fields["62"]
    assert start.qr_png is not None and Image.open(io.BytesIO(start.qr_png)).size[0] > 200


def test_the_commented_example_in_commune_yml_is_valid() -> None:
    lines = (REPO_ROOT / "data" / "communes" / "LB" / "commune.yml").read_text(encoding="utf-8").splitlines()
    start = lines.index("# payments:")
    example = "\n".join(line.removeprefix("# ") for line in lines[start:] if line.startswith("# "))
    account = BankAccount.from_commune(Commune.parse(yaml.safe_load(example)))
    assert account is not None and account.bank_bin == "970405"
    assert crc_ok(account_payload(account, 10_000, "DH-000001"))
