"""Village reports at rest: the tables and every change a report goes through.

A report is `open`, then `assigned` to a staff member, `resolved` with a note (and a photo), and
`closed` once its reporter confirms the fix; "not fixed" takes it back to `assigned` (or `open`).
A second report of the same problem does not make a new report: it is linked to the first one
(`ReportLink`), and its author hears of every change as the first reporter does. What villagers and
staff write is sealed with the field cipher, bound to its row. Codes are `PA-NNNNNN`, gap-free.

A report belongs to the commune it was made in (`commune`, core/province.py): only a report of the same
commune can be its duplicate, and what staff and villagers look up by code is looked up in their
commune (`commune=`), so another commune's code is not found.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, Select, String, Text, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.counters import hold, next_number
from core.crypto import FieldCipher
from core.models import Base, Media, User, UTCDateTime, commune_column, utcnow

OPEN, ASSIGNED, RESOLVED, CLOSED = "open", "assigned", "resolved", "closed"
STATUSES: tuple[str, ...] = (OPEN, ASSIGNED, RESOLVED, CLOSED)
OPEN_STATUSES: tuple[str, ...] = (OPEN, ASSIGNED)
CODE_PREFIX = "PA"
EARTH_RADIUS_M = 6_371_000.0


class Report(Base):
    __tablename__ = "village_reports"
    __table_args__ = (Index("ix_village_reports_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commune: Mapped[str] = commune_column()
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    hamlet_id: Mapped[str | None] = mapped_column(String(32), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    description_enc: Mapped[str] = mapped_column(Text)
    photo_id: Mapped[str | None] = mapped_column(String(64))
    # The report is the commune's record: when its author erases their account it stays, unlinked.
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolution_enc: Mapped[str | None] = mapped_column(Text)
    resolution_photo_id: Mapped[str | None] = mapped_column(String(64))
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    assigned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ReportLink(Base):
    """A later report of the same problem, kept with the first one; its author follows it."""

    __tablename__ = "village_report_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("village_reports.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    description_enc: Mapped[str] = mapped_column(Text)
    photo_id: Mapped[str | None] = mapped_column(String(64))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportEvent(Base):
    """The history of a report, one row per change; outbox keys name these rows."""

    __tablename__ = "village_report_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("village_reports.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(16))  # opened linked assigned resolved confirmed reopened
    actor: Mapped[str] = mapped_column(String(32))


class ReportRefused(Exception):
    """A change the report's status does not allow (resolving a closed report…)."""

    def __init__(self, status: str, action: str) -> None:
        super().__init__(f"{action} refused in status {status}")
        self.status = status
        self.action = action


@dataclass(frozen=True, slots=True)
class Place:
    hamlet_id: str | None
    lat: float | None = None
    lon: float | None = None

    @property
    def located(self) -> bool:
        return self.lat is not None and self.lon is not None


def in_commune(query: Select[Any], commune: str | None) -> Select[Any]:
    """`query` of reports narrowed to `commune`'s; None leaves it over every commune (the province)."""
    return query if commune is None else query.where(Report.commune == commune)


def format_code(number: int) -> str:
    return f"{CODE_PREFIX}-{number:06d}"


def distance_m(lat_a: float, lon_a: float, lat_b: float, lon_b: float) -> float:
    """Great-circle distance (haversine), in metres."""
    phi_a, phi_b = math.radians(lat_a), math.radians(lat_b)
    d_phi, d_lambda = phi_b - phi_a, math.radians(lon_b - lon_a)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi_a) * math.cos(phi_b) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def seal(cipher: FieldCipher, text: str, kind: str, row_id: int) -> str:
    return cipher.encrypt(text, f"reports.{kind}:{row_id}")


def unseal(cipher: FieldCipher, token: str | None, kind: str, row_id: int) -> str:
    return cipher.decrypt(token, f"reports.{kind}:{row_id}") if token else ""


def description_of(cipher: FieldCipher, report: Report) -> str:
    return unseal(cipher, report.description_enc, "description", report.id)


def resolution_of(cipher: FieldCipher, report: Report) -> str:
    return unseal(cipher, report.resolution_enc, "resolution", report.id)


async def serialise_new_reports(session: AsyncSession) -> None:
    """Holds the report counter's row lock until the transaction ends, so that two villagers reporting
    the same problem at once on PostgreSQL are checked for duplicates one after the other (SQLite
    already runs one message at a time). Takes no number."""
    await hold(session, CODE_PREFIX)


async def find_duplicate(session: AsyncSession, *, commune: str, kind: str, place: Place,
                         now: dt.datetime, metres: float, hours: float) -> Report | None:
    """The earliest unresolved report of `commune` of the same kind, made within `hours`, that is the
    same problem: within `metres` when both have a location, in the same hamlet when either has none.
    Call `serialise_new_reports` first in the same transaction."""
    since = now - dt.timedelta(hours=hours)
    candidates = (await session.execute(
        select(Report)
        .where(Report.commune == commune, Report.kind == kind, Report.status.in_(OPEN_STATUSES),
               Report.created_at >= since)
        .order_by(Report.created_at, Report.id)
    )).scalars()
    for report in candidates:
        if place.located and report.lat is not None and report.lon is not None:
            assert place.lat is not None and place.lon is not None
            if distance_m(place.lat, place.lon, report.lat, report.lon) <= metres:
                return report
        elif place.hamlet_id is not None and report.hamlet_id == place.hamlet_id:
            return report
    return None


async def record(session: AsyncSession, report: Report, action: str, actor: str,
                 now: dt.datetime) -> ReportEvent:
    event = ReportEvent(report_id=report.id, at=now, action=action, actor=actor)
    session.add(event)
    await session.flush()
    return event


async def open_report(session: AsyncSession, cipher: FieldCipher, *, kind: str, description: str,
                      photo_id: str | None, place: Place, reporter_id: int, channel: str,
                      now: dt.datetime, commune: str | None = None) -> tuple[Report, ReportEvent]:
    """A new report of `commune` (the flows always name it; None, the database's default, is the
    installation's own commune). Codes are numbered across the communes: each one names one report."""
    code = format_code(await next_number(session, CODE_PREFIX))
    report = Report(code=code, kind=kind, hamlet_id=place.hamlet_id, lat=place.lat, lon=place.lon,
                    description_enc="", photo_id=photo_id, reporter_id=reporter_id, channel=channel,
                    status=OPEN, created_at=now, reopened=0)
    if commune is not None:
        report.commune = commune
    session.add(report)
    await session.flush()  # the id binds the ciphertext to this report
    report.description_enc = seal(cipher, description, "description", report.id)
    event = await record(session, report, "opened", f"user:{reporter_id}", now)
    return report, event


async def is_follower(session: AsyncSession, report: Report, user_id: int) -> bool:
    if report.reporter_id == user_id:
        return True
    found = await session.execute(select(ReportLink.id).where(ReportLink.report_id == report.id,
                                                              ReportLink.user_id == user_id).limit(1))
    return found.first() is not None


async def link_report(session: AsyncSession, cipher: FieldCipher, report: Report, *, user_id: int,
                      description: str, photo_id: str | None, place: Place,
                      now: dt.datetime) -> ReportLink:
    link = ReportLink(report_id=report.id, user_id=user_id, description_enc="", photo_id=photo_id,
                      lat=place.lat, lon=place.lon, created_at=now)
    session.add(link)
    await session.flush()
    link.description_enc = seal(cipher, description, "link", link.id)
    await record(session, report, "linked", f"user:{user_id}", now)
    return link


async def links_of(session: AsyncSession, report_id: int) -> list[ReportLink]:
    query = select(ReportLink).where(ReportLink.report_id == report_id).order_by(ReportLink.id)
    return list((await session.execute(query)).scalars())


async def audience(session: AsyncSession, report: Report) -> list[User]:
    """Who hears of a change: the reporter and the authors of linked reports, each once."""
    ids = {report.reporter_id} | set((await session.execute(
        select(ReportLink.user_id).where(ReportLink.report_id == report.id))).scalars())
    ids.discard(None)
    if not ids:
        return []
    return list((await session.execute(select(User).where(User.id.in_(ids)).order_by(User.id))).scalars())


def _require(report: Report, action: str, allowed: tuple[str, ...]) -> None:
    if report.status not in allowed:
        raise ReportRefused(report.status, action)


async def assign(session: AsyncSession, report: Report, staff_id: int, now: dt.datetime) -> ReportEvent:
    _require(report, "assigned", OPEN_STATUSES)
    report.status, report.assignee_id, report.assigned_at = ASSIGNED, staff_id, now
    return await record(session, report, "assigned", f"user:{staff_id}", now)


async def resolve(session: AsyncSession, cipher: FieldCipher, report: Report, *, staff_id: int, note: str,
                  photo_id: str | None, now: dt.datetime) -> ReportEvent:
    _require(report, "resolved", OPEN_STATUSES)
    report.status, report.resolved_at = RESOLVED, now
    report.assignee_id = report.assignee_id or staff_id
    report.assigned_at = report.assigned_at or now
    report.resolution_enc = seal(cipher, note, "resolution", report.id)
    report.resolution_photo_id = photo_id
    return await record(session, report, "resolved", f"user:{staff_id}", now)


async def confirm(session: AsyncSession, report: Report, user_id: int, now: dt.datetime) -> ReportEvent:
    _require(report, "confirmed", (RESOLVED,))
    report.status, report.closed_at = CLOSED, now
    return await record(session, report, "confirmed", f"user:{user_id}", now)


async def reopen(session: AsyncSession, report: Report, user_id: int, now: dt.datetime) -> ReportEvent:
    _require(report, "reopened", (RESOLVED,))
    report.status = ASSIGNED if report.assignee_id is not None else OPEN
    report.resolved_at = None
    report.reopened += 1
    return await record(session, report, "reopened", f"user:{user_id}", now)


async def report_by_code(session: AsyncSession, code: str, *, commune: str | None) -> Report | None:
    """The report with `code` in `commune` (None: in any); another commune's is not found."""
    query = in_commune(select(Report).where(Report.code == code.upper()), commune)
    return (await session.execute(query)).scalar_one_or_none()


async def history(session: AsyncSession, report_id: int) -> list[ReportEvent]:
    query = select(ReportEvent).where(ReportEvent.report_id == report_id).order_by(ReportEvent.id)
    return list((await session.execute(query)).scalars())


# -- the villager's own data (/mydata)

async def export_user(session: AsyncSession, cipher: FieldCipher, user_id: int) -> list[dict[str, Any]]:
    """The user's reports and linked reports, as they wrote them, for the /mydata export."""
    found: list[dict[str, Any]] = []
    own = (await session.execute(select(Report).where(Report.reporter_id == user_id)
                                 .order_by(Report.id))).scalars()
    for report in own:
        found.append({"code": report.code, "role": "reporter", "kind": report.kind,
                      "hamlet": report.hamlet_id, "lat": report.lat, "lon": report.lon,
                      "description": description_of(cipher, report), "photo": report.photo_id,
                      "status": report.status, "created_at": report.created_at.isoformat()})
    linked = await session.execute(select(ReportLink, Report).join(Report, Report.id == ReportLink.report_id)
                                   .where(ReportLink.user_id == user_id).order_by(ReportLink.id))
    for link, report in linked:
        found.append({"code": report.code, "role": "linked", "kind": report.kind,
                      "hamlet": report.hamlet_id, "lat": link.lat, "lon": link.lon,
                      "description": unseal(cipher, link.description_enc, "link", link.id),
                      "photo": link.photo_id, "status": report.status,
                      "created_at": link.created_at.isoformat()})
    return found


async def forget_user(session: AsyncSession, user_id: int) -> int:
    """De-identifies the user's reports before their account is erased: the reports stay (the commune
    still has to fix the road), the link to the person goes. Their photos of the problem stay with the
    report, owned by no one (they were re-encoded without EXIF/GPS on upload). Returns how many."""
    own_photos = select(Report.photo_id).where(Report.reporter_id == user_id)
    linked_photos = select(ReportLink.photo_id).where(ReportLink.user_id == user_id)
    photos = set((await session.execute(own_photos)).scalars())
    photos |= set((await session.execute(linked_photos)).scalars())
    photos.discard(None)
    if photos:
        await session.execute(update(Media).where(Media.id.in_(photos), Media.owner_id == user_id)
                              .values(owner_id=None).execution_options(synchronize_session=False))
    own = await session.execute(update(Report).where(Report.reporter_id == user_id).values(reporter_id=None)
                                .execution_options(synchronize_session=False))
    linked = await session.execute(update(ReportLink).where(ReportLink.user_id == user_id)
                                   .values(user_id=None).execution_options(synchronize_session=False))
    return int(own.rowcount or 0) + int(linked.rowcount or 0)  # type: ignore[attr-defined]
