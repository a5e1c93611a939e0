"""VietQR bank transfers: the EMVCo merchant-presented payload NAPAS defines, and its PNG QR.

Every Vietnamese banking app reads it: field 38 names the receiving account (NAPAS GUID
`A000000727`, the bank's BIN and the account number, service `QRIBFTTA` — transfer to an account),
53/54 the currency (704, đồng) and amount, 62 the purpose the buyer's bank copies into the transfer
(here the order code, so the commune's accountant can match the money to the order), and 63 a
CRC-16/CCITT-FALSE over everything before it. Nothing tells us a transfer arrived: staff confirm
receipt, which settles the ledger row `vietqr:<ORDER CODE>`.
"""

from __future__ import annotations

import asyncio
import io
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

import qrcode
import qrcode.constants

from backends.payments.base import PaymentError, PaymentRequest, PaymentStart, Transfer
from core.commune import ACCOUNT_NUMBER, BANK_BIN, Commune

NAME = "vietqr"
NAPAS_GUID = "A000000727"
SERVICE_TO_ACCOUNT = "QRIBFTTA"
CURRENCY_VND = "704"
COUNTRY = "VN"
STATIC, DYNAMIC = "11", "12"  # point of initiation: reusable code / one payment with its amount
PURPOSE_MAX = 25  # field 62-08 as NAPAS sizes it
NAME_MAX, CITY_MAX = 25, 15  # EMVCo fields 59 and 60
BOX_SIZE, BORDER = 8, 4  # PNG pixels per module, quiet zone in modules

_BIN = BANK_BIN  # the same rules as commune.yml's (core/commune.py)
_ACCOUNT = ACCOUNT_NUMBER


def tlv(tag: str, value: str) -> str:
    if len(tag) != 2 or not tag.isdigit():
        raise ValueError(f"bad EMVCo tag {tag!r}")
    if not 0 < len(value) <= 99:
        raise ValueError(f"EMVCo field {tag} must hold 1 to 99 characters, not {len(value)}")
    return f"{tag}{len(value):02d}{value}"


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, no reflection, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def ascii_text(text: str, limit: int) -> str:
    """Vietnamese folded to what every bank accepts: no diacritics (đ → d), printable ASCII, one space."""
    folded = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(char for char in folded if char.isascii() and char.isprintable())
    return " ".join(plain.split())[:limit].strip()


@dataclass(frozen=True, slots=True)
class BankAccount:
    """The commune's (or cooperative's) receiving account, from commune.yml `payments:`."""

    bank_bin: str  # the bank's 6-digit NAPAS BIN, e.g. 970405 for Agribank
    account_number: str
    account_name: str
    city: str = ""
    bank_name: str = ""  # shown to buyers next to the QR
    # A banking-app link where the commune's bank or a link service offers one, with {bin}, {account},
    # {amount}, {note} and {name} filled in (URL-encoded); none by default.
    deeplink: str = ""

    def __post_init__(self) -> None:
        if not _BIN.fullmatch(self.bank_bin):
            raise ValueError("payments.bank_bin must be the bank's 6-digit NAPAS BIN, e.g. \"970405\"")
        if not _ACCOUNT.fullmatch(self.account_number):
            raise ValueError("payments.account_number must be 1 to 19 letters or digits")
        if not ascii_text(self.account_name, NAME_MAX):
            raise ValueError("payments.account_name must be the account holder's name")

    @classmethod
    def from_commune(cls, commune: Commune) -> BankAccount | None:
        """The account in commune.yml's `payments:` section; None when there is none (VietQR is off).
        A section with a missing or malformed field was refused when commune.yml was read."""
        bank = commune.payments
        if bank is None:
            return None
        return cls(bank_bin=bank.bank_bin, account_number=bank.account_number, account_name=bank.account_name,
                   city=bank.city, bank_name=bank.bank_name, deeplink=bank.deeplink)

    def link_for(self, amount_vnd: int, note: str) -> str | None:
        if not self.deeplink.startswith("https://"):
            return None
        values = {"bin": self.bank_bin, "account": self.account_number, "amount": str(amount_vnd),
                  "note": note, "name": ascii_text(self.account_name, NAME_MAX)}
        return self.deeplink.format(**{key: quote(value) for key, value in values.items()})


def payload(bank_bin: str, account_number: str, *, amount_vnd: int | None = None, purpose: str = "",
            merchant_name: str = "", merchant_city: str = "") -> str:
    """The VietQR string: dynamic (`12`) with an amount, static (`11`) without one. Optional fields
    (name, city, purpose) are folded to ASCII and left out when empty."""
    if amount_vnd is not None and amount_vnd <= 0:
        raise ValueError("a VietQR amount must be positive")
    beneficiary = tlv("00", bank_bin) + tlv("01", account_number)
    merchant = tlv("00", NAPAS_GUID) + tlv("01", beneficiary) + tlv("02", SERVICE_TO_ACCOUNT)
    fields = [tlv("00", "01"), tlv("01", STATIC if amount_vnd is None else DYNAMIC), tlv("38", merchant),
              tlv("53", CURRENCY_VND)]
    if amount_vnd is not None:
        fields.append(tlv("54", str(amount_vnd)))
    fields.append(tlv("58", COUNTRY))
    optional = (("59", ascii_text(merchant_name, NAME_MAX).upper()),
                ("60", ascii_text(merchant_city, CITY_MAX).upper()))
    fields.extend(tlv(tag, value) for tag, value in optional if value)
    purpose = ascii_text(purpose, PURPOSE_MAX)
    if purpose:
        fields.append(tlv("62", tlv("08", purpose)))
    body = "".join(fields) + "6304"
    return body + f"{crc16_ccitt_false(body.encode('ascii')):04X}"


def account_payload(account: BankAccount, amount_vnd: int | None = None, purpose: str = "") -> str:
    return payload(account.bank_bin, account.account_number, amount_vnd=amount_vnd, purpose=purpose,
                   merchant_name=account.account_name, merchant_city=account.city)


def render_png(text: str, box_size: int = BOX_SIZE, border: int = BORDER) -> bytes:
    """A black-on-white PNG of the QR code (error correction M, as bank apps print them)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=border)
    code.add_data(text)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return buffer.getvalue()


def purpose_of(order_code: str) -> str:
    return f"{order_code} thanh toan"


class VietQRPayments:
    """The `vietqr` payment provider: a QR for a transfer of the exact amount with the order code."""

    name = NAME
    remote = False  # the QR is made here, in a thread

    def __init__(self, account: BankAccount) -> None:
        self.account = account

    async def start(self, request: PaymentRequest) -> PaymentStart:
        try:
            text = account_payload(self.account, request.amount_vnd, purpose_of(request.order_code))
        except ValueError as error:
            raise PaymentError(NAME, "invalid", str(error)) from error
        png = await asyncio.to_thread(render_png, text)
        note = purpose_of(request.order_code)
        account = self.account
        transfer = Transfer(bank_name=account.bank_name or f"BIN {account.bank_bin}",
                            account_number=account.account_number, account_name=account.account_name,
                            amount_vnd=request.amount_vnd, note=note,
                            deeplink=account.link_for(request.amount_vnd, note))
        return PaymentStart(provider=NAME, reference=f"{NAME}:{request.order_code}", qr_payload=text,
                            qr_png=png, transfer=transfer)
