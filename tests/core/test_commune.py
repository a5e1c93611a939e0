"""data/commune.yml read once into a typed, frozen value: the defaults of a missing key, and a clear
error (file and key) for a malformed one, at start rather than in the middle of a conversation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from core.commune import BankDetails, Commune, CommuneError, HamletArea, Office, Signer, Station
from core.config import REPO_ROOT


def test_the_demo_commune_reads_whole() -> None:
    commune = Commune.load(REPO_ROOT / "data" / "communes" / "LB" / "commune.yml")
    assert commune.name == "Xã La Bằng" and commune.district == "huyện Đại Từ"
    assert commune.office.phone == "0208 3820 123" and commune.office.hours.startswith("Thứ Hai")
    assert commune.health_station == Station("Trạm Y tế xã La Bằng",
                                             "xóm Tiến Thành, xã La Bằng (cạnh UBND xã)", "0208 3820 115")
    assert commune.emergency_number == "115"
    assert commune.signer == Signer("Chủ tịch", "Hoàng Văn Minh")
    assert [h.id for h in commune.hamlets] == ["tien_thanh", "kem", "la_cut", "dong_tien", "ban_hon",
                                              "rung_van"]
    assert all(len(h.polygon) >= 3 for h in commune.hamlets)
    assert commune.hamlet("kem") == HamletArea("kem", "Xóm Kèm", commune.hamlets[1].polygon)
    assert commune.hamlet("nowhere") is None
    assert commune.payments is None  # the example is commented out: VietQR is off


def test_it_cannot_be_changed_once_read() -> None:
    commune = Commune.load(REPO_ROOT / "data" / "communes" / "LB" / "commune.yml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        commune.name = "Xã Khác"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        commune.office.phone = "0"  # type: ignore[misc]


def test_missing_keys_have_the_defaults_they_always_had(tmp_path: Path) -> None:
    assert Commune.load(tmp_path / "commune.yml") == Commune()  # no file at all
    (tmp_path / "commune.yml").write_text("", encoding="utf-8")
    assert Commune.load(tmp_path / "commune.yml") == Commune()  # an empty one
    bare = Commune.parse({"name": "Xã Mới", "office": None, "emergency_number": ""})
    assert bare.name == "Xã Mới" and bare.office == Office() and bare.health_station == Station()
    assert bare.emergency_number == "115" and bare.signer == Signer() and bare.hamlets == ()
    assert bare.district == "" and bare.payments is None


def test_numbers_written_without_quotes_are_text() -> None:
    commune = Commune.parse({"emergency_number": 115, "office": {"phone": 2083820123},
                             "payments": {"bank_bin": 970405, "account_number": "3100 2051 23456",
                                          "account_name": "HTX Che"}})
    assert commune.emergency_number == "115" and commune.office.phone == "2083820123"
    assert commune.payments == BankDetails("970405", "3100205123456", "HTX Che")


@pytest.mark.parametrize(("raw", "key"), [
    (["a list"], ""),
    ({"office": "UBND xã"}, "office"),
    ({"office": {"phone": ["0208"]}}, "office.phone"),
    ({"health_station": {"name": {"vi": "Trạm"}}}, "health_station.name"),
    ({"signer": "Chủ tịch"}, "signer"),
    ({"hamlets": {"id": "kem"}}, "hamlets"),
    ({"hamlets": [{"id": "kem"}]}, "hamlets[0]"),
    ({"hamlets": [{"id": "x", "name": "X"}, {"id": "x", "name": "Y"}]}, "hamlets[1].id"),
    ({"hamlets": [{"id": "x", "name": "X", "polygon": [[1, 2], [3, 4]]}]}, "hamlets[0].polygon"),
    ({"hamlets": [{"id": "x", "name": "X", "polygon": [[1, 2], [3, 4], ["a", 5]]}]}, "hamlets[0].polygon"),
    ({"payments": "Agribank"}, "payments"),
    ({"payments": {"bank_bin": "97040", "account_number": "123", "account_name": "A"}}, "payments.bank_bin"),
    ({"payments": {"bank_bin": "970405", "account_number": "1" * 20, "account_name": "A"}},
     "payments.account_number"),
    ({"payments": {"bank_bin": "970405", "account_number": "123", "account_name": " "}},
     "payments.account_name"),
])
def test_a_malformed_key_is_named_with_the_file(raw: object, key: str) -> None:
    with pytest.raises(CommuneError) as refused:
        Commune.parse(raw, "data/commune.yml")
    assert refused.value.key == key and str(refused.value).startswith(f"data/commune.yml: {key}")


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "commune.yml"
    path.write_text("name: [Xã La Bằng\n", encoding="utf-8")
    with pytest.raises(CommuneError, match="not valid YAML") as refused:
        Commune.load(path)
    assert str(path) in str(refused.value)
