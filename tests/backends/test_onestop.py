"""The one-stop backend: catalogue validation, working days, the dossier code sequence, encryption."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from typing import Any

import pytest
import yaml
from sqlalchemy import select, text

from backends.onestop.calendar import WorkingCalendar, load_calendar
from backends.onestop.catalogue import ProcedureCatalogue, load_catalogue, parse_catalogue
from backends.onestop.store import Dossier, Submission, create_dossier, dossier_of_user, read_values
from core.config import REPO_ROOT
from core.crypto import FieldCipher
from core.db import Database
from core.models import User
from core.timezones import VIETNAM

DATA = REPO_ROOT / "data"
IDS = {"birth_registration", "death_registration", "marriage_registration", "marital_status",
       "certified_copy", "civil_status_extract", "social_allowance", "residence_confirmation"}


@pytest.fixture(scope="module")
def procedures() -> ProcedureCatalogue:
    return load_catalogue(DATA / "procedures.yml")


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return load_calendar(DATA / "holidays.yml")


# --- catalogue -------------------------------------------------------------------------------------------

def test_catalogue_has_the_commune_procedures(procedures: ProcedureCatalogue) -> None:
    assert {p.id for p in procedures} >= IDS
    for procedure in procedures:
        photo_fields = [f.name for f in procedure.form.fields if f.type == "photo"]
        assert photo_fields == [paper.name for paper in procedure.papers]
        assert procedure.name["en"] and procedure.legal_basis and procedure.time_limit_days >= 1
    birth = procedures.get("birth_registration")
    marriage = procedures.get("marriage_registration")
    assert birth is not None and birth.fee == 0 and birth.time_limit_days == 1 and not birth.in_person
    assert marriage is not None and marriage.in_person


@pytest.mark.parametrize("said, expected", [
    ("làm giấy khai sinh cho con", "birth_registration"),
    ("lam giay khai sinh cho con", "birth_registration"),
    ("xin giay doc than", "marital_status"),
    ("đăng ký kết hôn", "marriage_registration"),
    ("trợ cấp người cao tuổi", "social_allowance"),
    ("thời tiết hôm nay", None),
])
def test_synonyms_match_with_and_without_diacritics(procedures: ProcedureCatalogue, said: str,
                                                     expected: str | None) -> None:
    found = procedures.match(said)
    assert (found.id if found else None) == expected


def _raw() -> dict[str, Any]:
    return yaml.safe_load((DATA / "procedures.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["procedures"][0].update(fee=-1), "fee"),
    (lambda d: d["procedures"][0].update(colour="red"), "unknown key"),
    (lambda d: d["procedures"][0].pop("papers"), "missing"),
    (lambda d: d["procedures"][1]["synonyms"].append("Khai Sinh"), "duplicate synonym"),
    (lambda d: d["procedures"][0]["fields"].append({"name": "p", "type": "photo", "prompt": "x"}), "papers"),
    (lambda d: d["procedures"][0]["fields"].append({"name": "x", "type": "colour", "prompt": "x"}), "type"),
    (lambda d: d["procedures"].append(copy.deepcopy(d["procedures"][0])), "duplicate"),
    (lambda d: d.update(paper_prompt="no placeholder"), "paper_prompt"),
])
def test_catalogue_validation_names_the_mistake(mutate: Any, message: str) -> None:
    data = _raw()
    mutate(data)
    with pytest.raises(ValueError, match=message):
        parse_catalogue(data)


# --- working days ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("start, days, expected", [
    (dt.date(2026, 3, 6), 1, dt.date(2026, 3, 9)),      # Friday → Monday
    (dt.date(2026, 3, 2), 3, dt.date(2026, 3, 5)),
    (dt.date(2026, 2, 13), 1, dt.date(2026, 2, 23)),    # Tết Bính Ngọ: 16–20/2 off, then the weekend
    (dt.date(2026, 2, 12), 3, dt.date(2026, 2, 24)),
    (dt.date(2026, 4, 29), 1, dt.date(2026, 5, 4)),     # 30/4 and 1/5 off, then the weekend
    (dt.date(2026, 4, 24), 1, dt.date(2026, 4, 28)),    # Giỗ Tổ on Sunday 26/4: Monday 27/4 off
    (dt.date(2025, 4, 25), 1, dt.date(2025, 4, 26)),    # Saturday 26/4/2025 worked in exchange for 2/5
    (dt.date(2025, 4, 29), 1, dt.date(2025, 5, 5)),
    (dt.date(2025, 1, 24), 5, dt.date(2025, 2, 7)),     # Tết Ất Tỵ 27–31/1
    (dt.date(2026, 8, 31), 1, dt.date(2026, 9, 3)),     # Quốc khánh 1–2/9
    (dt.date(2026, 3, 2), 0, dt.date(2026, 3, 2)),
])
def test_add_working_days(calendar: WorkingCalendar, start: dt.date, days: int, expected: dt.date) -> None:
    assert calendar.add_working_days(start, days) == expected


def test_receipt_after_closing_or_on_a_holiday_counts_from_the_next_working_day(
    calendar: WorkingCalendar,
) -> None:
    monday_morning = dt.datetime(2026, 3, 2, 9, 0, tzinfo=VIETNAM)
    monday_evening = dt.datetime(2026, 3, 2, 17, 30, tzinfo=VIETNAM)
    tet = dt.datetime(2026, 2, 17, 10, 0, tzinfo=VIETNAM)
    assert calendar.due_date(monday_morning, 1) == dt.date(2026, 3, 3)
    assert calendar.due_date(monday_evening, 1) == dt.date(2026, 3, 4)
    assert calendar.receipt_day(tet) == dt.date(2026, 2, 23)
    assert calendar.due_date(tet, 1) == dt.date(2026, 2, 24)


def test_holiday_file_covers_three_years(calendar: WorkingCalendar) -> None:
    for year in (2025, 2026, 2027):
        assert dt.date(year, 1, 1) in calendar.days_off
        assert dt.date(year, 9, 2) in calendar.days_off
        assert not calendar.is_working_day(dt.date(year, 4, 30))


def test_holiday_file_refuses_a_misfiled_date(tmp_path: Any) -> None:
    path = tmp_path / "holidays.yml"
    path.write_text("years:\n  2026:\n    days_off: [{date: 2025-01-01, name: x}]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="wrong year"):
        load_calendar(path)


# --- the store -------------------------------------------------------------------------------------------

CIPHER = FieldCipher(b"test-secret")
ID_NUMBER = "019190012345"


async def _user(database: Database, external_id: str) -> int:
    async with database.session() as session:
        user = User(channel="web", external_id=external_id)
        session.add(user)
        await session.flush()
        return user.id


async def test_fifty_concurrent_dossiers_get_unique_gap_free_codes(
    database: Database, procedures: ProcedureCatalogue, calendar: WorkingCalendar
) -> None:
    procedure = procedures.get("marital_status")
    assert procedure is not None
    user_id = await _user(database, "concurrent")
    now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=VIETNAM)

    async def one(number: int) -> str:
        async with database.session() as session:
            values = {"full_name": f"Người Thứ {number}", "citizen_id": ID_NUMBER, "id_card": "m" * 32}
            dossier = await create_dossier(session, CIPHER, calendar, commune="LB", now=now,
                                           submission=Submission(procedure, user_id, values))
            return dossier.code

    codes = await asyncio.gather(*(one(n) for n in range(50)))
    assert sorted(codes) == [f"LB-2026-{n:06d}" for n in range(1, 51)]
    async with database.session() as session:
        rows = (await session.execute(select(Dossier))).scalars().all()
        assert len(rows) == 50
        assert all(row.due_date == dt.date(2026, 3, 5) for row in rows)


async def test_a_rolled_back_dossier_leaves_no_gap(
    database: Database, procedures: ProcedureCatalogue, calendar: WorkingCalendar
) -> None:
    procedure = procedures.get("marital_status")
    assert procedure is not None
    user_id = await _user(database, "rollback")
    now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=VIETNAM)
    with pytest.raises(RuntimeError):
        async with database.session() as session:
            await create_dossier(session, CIPHER, calendar, commune="LB", now=now,
                                 submission=Submission(procedure, user_id, {"citizen_id": ID_NUMBER}))
            raise RuntimeError("the turn failed")
    async with database.session() as session:
        dossier = await create_dossier(session, CIPHER, calendar, commune="LB", now=now,
                                       submission=Submission(procedure, user_id, {"citizen_id": ID_NUMBER}))
    assert dossier.code == "LB-2026-000001"


async def test_values_are_encrypted_and_dossiers_are_private(
    database: Database, procedures: ProcedureCatalogue, calendar: WorkingCalendar
) -> None:
    procedure = procedures.get("residence_confirmation")
    assert procedure is not None
    owner, stranger = await _user(database, "owner"), await _user(database, "stranger")
    values = {"full_name": "Lê Văn Tám", "citizen_id": ID_NUMBER, "address": "Xóm Kèm", "id_card": "ab" * 16}
    async with database.session() as session:
        dossier = await create_dossier(session, CIPHER, calendar, commune="LB",
                                       submission=Submission(procedure, owner, values))
    async with database.session() as session:
        raw = (await session.execute(text("SELECT * FROM dossiers"))).all()
        assert ID_NUMBER not in str(raw) and "Xóm Kèm" not in str(raw)
        mine = await dossier_of_user(session, dossier.code, owner)
        assert mine is not None and mine.papers == {"id_card": "ab" * 16}
        assert read_values(CIPHER, mine)["citizen_id"] == ID_NUMBER
        assert await dossier_of_user(session, dossier.code, stranger) is None
