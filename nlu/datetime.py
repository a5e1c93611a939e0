"""Vietnamese dates and times: find them in a message and resolve them against "now".

Pure functions of ``(text, now)``; ``now`` is read in Vietnam time (UTC+7). Matching runs on the
diacritics-free form, so "chieu mai" works like "chiều mai", but a word typed with *other*
diacritics is not taken ("mãi" is not "mai", "tôi" is not "tối"). Offsets point into the text
the user sent.

Entities: ``date`` = ``YYYY-MM-DD``; ``time`` = ``HH:MM``, or a part of the day (``morning``,
``noon``, ``afternoon``, ``evening``, ``night``) when no clock time was given.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from nlu.engine import Entity
from nlu.normalize import aligned_fold, fold_phrase

VIETNAM = timezone(timedelta(hours=7), "ICT")
Clock = Callable[[], datetime]


def vietnam_now() -> datetime:
    return datetime.now(VIETNAM)


def today_in_vietnam(now: datetime) -> date:
    """A naive ``now`` is taken as Vietnam time already."""
    return (now.astimezone(VIETNAM) if now.tzinfo else now).date()


# Folded phrase → days from today, and how the words may be typed.
_RELATIVE_DAYS: dict[str, int] = {
    "hom nay": 0, "bua nay": 0, "hnay": 0,
    "ngay mai": 1, "mai": 1,
    "ngay kia": 2, "ngay mot": 2, "mot": 2,
    "hom qua": -1, "bua qua": -1, "hqua": -1,
    "hom kia": -2,
}
# "mốt" must carry its accent: folded, "mot" is "một" (one).
_STRICT_WORDS = frozenset({"mot"})
_WEEKDAY_WORDS: dict[str, int] = {"hai": 0, "ba": 1, "tu": 2, "nam": 3, "sau": 4, "bay": 5}
_WEEK_OFFSETS: dict[str, int] = {"sau": 7, "toi": 7, "nay": 0, "truoc": -7}
_PERIODS: dict[str, str] = {
    "sang": "morning", "trua": "noon", "chieu": "afternoon", "toi": "evening", "dem": "night",
}
# Every word a pattern may match, spelt properly; the folded spelling is always accepted too.
_SPELLINGS = frozenset(
    "hôm nay bữa hnay ngày mai kia mốt qua hqua thứ tư năm sáu bảy bẩy hai ba chủ nhật cn tuần "
    "sau tới này trước tháng thg sáng trưa chiều tối đêm buổi giờ h g phút p rưỡi mùng mồng".split()
)
# A number before these is an ordinal or a count, not a weekday: "con thứ hai", "lần thứ 3".
_ORDINAL_HEADS = frozenset(
    "lan con nguoi chau be dua cau dong buoc hang tang so lop dieu khoan phan cai chiec quyen ban "
    "trang ky dot vo chong giai".split()
)
# "chị Mai", "hoa mai": a name or a flower. "mai táng", "mai mối", "mai sau": other words.
_MAI_HEADS = frozenset("chi co ba em anh be con chau ong hoa cay canh ten".split())
_MAI_TAILS = frozenset("tang moi sau kia".split())
_EVENING_TAILS = frozenset({"", "hom", "ngay"})
# After "1/2" or "3-5" these make a fraction or a range: "1/2 cân", "3-5 ngày".
_UNITS_AFTER = (
    r"(?:kg|ki|ky|can|kilo|g|gam|gram|lang|lit|l|ml|hop|goi|chai|tui|cai|qua|bao|m|km|cm"
    r"|ngay|tuan|thang|nam|gio|tieng|phut|lan|nguoi|buoi)"
)
# Numbers and counts: "thu ba trieu" is collecting three million, "2 tuần sau" is not next week.
_AMOUNT_TAILS = frozenset("trieu nghin ngan tram muoi chuc dong nguoi lan".split())
_COUNT_HEADS = frozenset("mot hai ba bon nam vai may".split())

_B = r"(?<![\w])"  # word start
_E = r"(?![\w])"  # word end
_RELATIVE_RE = re.compile(
    _B + "(?:" + "|".join(r"\s+".join(p.split()) for p in sorted(_RELATIVE_DAYS, key=len, reverse=True))
    + ")" + _E
)
_WEEKDAY_RE = re.compile(
    _B + r"(?:thu\s*(?P<n>[2-7]|hai|ba|tu|nam|sau|bay)|t(?P<t>[2-7])|(?P<cn>chu\s+nhat|cn))"
    r"(?:\s+tuan\s+(?P<week>sau|toi|nay|truoc))?" + _E
)
_NEXT_WEEK_RE = re.compile(_B + r"tuan\s+(?:sau|toi)" + _E)
_NUMERIC_RE = re.compile(
    r"(?<![\w\-/.:,])(?P<d>\d{1,2})(?P<s>[/\-])(?P<m>\d{1,2})(?:(?P=s)(?P<y>\d{4}|\d{2}))?"
    r"(?![\w\-/:]|[.,]\d)(?!\s*" + _UNITS_AFTER + _E + ")"
)
_WORDED_RE = re.compile(
    r"(?<![\w\-/.:,])(?:(?:ngay|mung|mong)\s+)?(?P<d>\d{1,2})\s+(?:thang|thg)\s+(?P<m>\d{1,2})"
    r"(?:\s+(?:nam\s+)?(?P<y>\d{4}))?" + _E
)
_CLOCK_RE = re.compile(
    r"(?<![\w\-/.:,])(?P<h>\d{1,2})(?:"
    r":(?P<colon>\d{2})(?!:\d)"
    r"|\s*(?:h|gio|g(?=\d))(?:\s*(?P<m>\d{1,2})(?![/\-.,:]\d)\s*(?:p|phut)?|\s+(?P<half>ruoi))?"
    r"|\s+(?P<bare_half>ruoi)"  # "8 rưỡi": half past, the "giờ" left out
    r")" + _E
)
_PERIOD_RE = re.compile(_B + r"(?:(?P<buoi>buoi)\s+)?(?P<p>sang|trua|chieu|toi|dem)(?:\s+(?P<nay>nay))?" + _E)
# What may stand between the words of one expression: "chiều mai lúc 3 giờ", "3 giờ chiều ngày 15/10".
_GAP_RE = re.compile(r"(?:[\s,]|luc|vao|ngay|khoang)*")
# "mất 2 giờ", "trong 2 giờ", "2 giờ nữa" are durations.
_DURATION_BEFORE_RE = re.compile(r"(?<!\w)(?:mat|trong)\s+$")
_DURATION_AFTER_RE = re.compile(r"\s*(?:nua|dong ho|lien)(?!\w)")
_LETTERS_RE = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True, slots=True)
class _Atom:
    kind: str  # "date", "period" or "clock"
    start: int  # in folded text
    end: int
    value: object  # date, period name, or (hour, minute)
    weak: bool = False  # a period that only counts when it joins a date or a clock


class _Text:
    """The message with its folded form and the map back to original offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.folded, self._starts, self._ends = aligned_fold(text)

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self._starts[start], self._ends[end - 1]

    def surface(self, start: int, end: int) -> str:
        a, b = self.span(start, end)
        return self.text[a:b]

    def typed_plausibly(self, start: int, end: int) -> bool:
        """Each word as it should be spelt, or without any diacritics (but strict words spelt)."""
        surface = unicodedata.normalize("NFC", self.surface(start, end)).lower()
        for word in _LETTERS_RE.findall(surface):  # "8h30" → "h"; "15/10" → nothing
            if word not in _SPELLINGS and (word != fold_phrase(word) or word in _STRICT_WORDS):
                return False
        return True

    def word_before(self, start: int) -> str:
        words = self.folded[:start].split()
        return words[-1] if words else ""

    def word_after(self, end: int) -> str:
        words = self.folded[end:].split(maxsplit=1)
        return words[0] if words else ""


def find_datetimes(text: str, now: datetime) -> tuple[Entity, ...]:
    """Every ``date`` and ``time`` entity in ``text``, in order, resolved against ``now``."""
    if not any(c.isdigit() or c.isalpha() for c in text):
        return ()
    source = _Text(text)
    today = today_in_vietnam(now)
    atoms = _without_overlaps(
        _clocks(source) + _dates(source, today) + _periods(source, today)
    )
    return tuple(_resolve(source, atoms))


def _dates(source: _Text, today: date) -> list[_Atom]:
    folded = source.folded
    atoms: list[_Atom] = []
    for m in _NUMERIC_RE.finditer(folded):
        atoms += _calendar(m, today)
    for m in _WORDED_RE.finditer(folded):
        if source.typed_plausibly(*m.span()):
            atoms += _calendar(m, today)
    for m in _WEEKDAY_RE.finditer(folded):
        if (
            source.typed_plausibly(*m.span())
            and source.word_before(m.start()) not in _ORDINAL_HEADS
            and source.word_after(m.end()) not in _AMOUNT_TAILS
        ):
            atoms.append(_Atom("date", m.start(), m.end(), _weekday(m, today)))
    for m in _NEXT_WEEK_RE.finditer(folded):
        before = source.word_before(m.start())
        if source.typed_plausibly(*m.span()) and not (before.isdigit() or before in _COUNT_HEADS):
            monday = today - timedelta(days=today.weekday()) + timedelta(days=7)
            atoms.append(_Atom("date", m.start(), m.end(), monday))
    for m in _RELATIVE_RE.finditer(folded):
        phrase = " ".join(m.group(0).split())
        if not source.typed_plausibly(*m.span()):
            continue
        if phrase == "mai" and _is_other_mai(source, m.start(), m.end()):
            continue
        atoms.append(_Atom("date", m.start(), m.end(), today + timedelta(days=_RELATIVE_DAYS[phrase])))
    return atoms


def _is_other_mai(source: _Text, start: int, end: int) -> bool:
    if source.word_before(start) in _MAI_HEADS or source.word_after(end) in _MAI_TAILS:
        return True
    # A capital "Mai" mid-sentence is a name.
    original_start = source.span(start, end)[0]
    before = source.text[:original_start].rstrip()
    return source.text[original_start].isupper() and bool(before) and before[-1] not in ".!?:"


def _calendar(m: re.Match[str], today: date) -> list[_Atom]:
    year = int(m.group("y")) if m.group("y") else today.year
    year += 2000 if year < 100 else 0
    try:
        value = date(year, int(m.group("m")), int(m.group("d")))
    except ValueError:
        return []
    return [_Atom("date", m.start(), m.end(), value)]


def _weekday(m: re.Match[str], today: date) -> date:
    if m.group("cn"):
        wanted = 6
    else:
        word = m.group("n") or m.group("t")
        wanted = int(word) - 2 if word.isdigit() else _WEEKDAY_WORDS[word]
    week = m.group("week")
    if week is None:  # the next such day, today included
        return today + timedelta(days=(wanted - today.weekday()) % 7)
    monday = today - timedelta(days=today.weekday())
    return monday + timedelta(days=_WEEK_OFFSETS[week] + wanted)


def _clocks(source: _Text) -> list[_Atom]:
    atoms: list[_Atom] = []
    for m in _CLOCK_RE.finditer(source.folded):
        hour = int(m.group("h"))
        minute = 30 if m.group("half") or m.group("bare_half") else int(m.group("colon") or m.group("m") or 0)
        if hour > 23 or minute > 59 or not source.typed_plausibly(*m.span()):
            continue
        if _DURATION_BEFORE_RE.search(source.folded, 0, m.start()) or _DURATION_AFTER_RE.match(
            source.folded, m.end()
        ):
            continue
        atoms.append(_Atom("clock", m.start(), m.end(), (hour, minute)))
    return atoms


def _periods(source: _Text, today: date) -> list[_Atom]:
    atoms: list[_Atom] = []
    for m in _PERIOD_RE.finditer(source.folded):
        start, end = m.span("p")
        period = m.group("p")
        if not source.typed_plausibly(*m.span()):
            continue
        # Unaccented "toi" is mostly "tôi" (I): "toi nay", "buoi toi", "7h toi" at the end are evenings.
        if period == "toi" and source.surface(start, end).lower() == "toi" and not (
            m.group("nay") or m.group("buoi") or source.word_after(end) in _EVENING_TAILS
        ):
            continue
        atoms.append(_Atom("period", m.start(), end, _PERIODS[period], weak=not m.group("buoi")))
        if m.group("nay"):
            atoms.append(_Atom("date", m.start("nay"), m.end("nay"), today))
    return atoms


def _without_overlaps(atoms: list[_Atom]) -> list[_Atom]:
    """Longest first, then leftmost; drop what overlaps an atom already kept."""
    kept: list[_Atom] = []
    for atom in sorted(atoms, key=lambda a: (a.start - a.end, a.start)):
        if all(atom.end <= k.start or atom.start >= k.end for k in kept):
            kept.append(atom)
    return sorted(kept, key=lambda a: a.start)


def _chains(folded: str, atoms: Sequence[_Atom]) -> list[list[_Atom]]:
    """Atoms separated only by spaces and linking words form one expression."""
    chains: list[list[_Atom]] = []
    for atom in atoms:
        if chains and _GAP_RE.fullmatch(folded, chains[-1][-1].end, atom.start):
            chains[-1].append(atom)
        else:
            chains.append([atom])
    return chains


def _resolve(source: _Text, atoms: Sequence[_Atom]) -> list[Entity]:
    entities: list[Entity] = []
    for chain in _chains(source.folded, atoms):
        used = _pair_clocks_with_periods(chain)
        has_anchor = any(a.kind != "period" for a in chain)
        for index, atom in enumerate(chain):
            start, end = source.span(atom.start, atom.end)
            if isinstance(atom.value, date):
                entities.append(Entity("date", atom.value.isoformat(), start, end))
            elif isinstance(atom.value, tuple):
                hour, minute = atom.value
                period = chain[used[index]] if index in used else None
                hour = _on_24h_clock(hour, period.value if period else None)
                if period is not None and abs(used[index] - index) == 1:  # "3 giờ chiều" as one span
                    start, end = source.span(min(atom.start, period.start), max(atom.end, period.end))
                entities.append(Entity("time", f"{hour:02d}:{minute:02d}", start, end))
            elif index not in used.values() and (has_anchor or not atom.weak):
                entities.append(Entity("time", str(atom.value), start, end))
    return entities


def _pair_clocks_with_periods(chain: Sequence[_Atom]) -> dict[int, int]:
    """Clock index → index of the period that qualifies it: the one right after ("3 giờ chiều"),
    else the one right before, maybe across a date ("chiều mai 3 giờ")."""
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    for i, atom in enumerate(chain):
        if atom.kind != "clock":
            continue
        for j in (i + 1, i - 1, i - 2):
            between_ok = j != i - 2 or chain[i - 1].kind == "date"
            if 0 <= j < len(chain) and chain[j].kind == "period" and j not in taken and between_ok:
                pairs[i] = j
                taken.add(j)
                break
    return pairs


def _on_24h_clock(hour: int, period: object) -> int:
    """'3 giờ chiều' is 15:00, '7 giờ tối' 19:00, '12 giờ đêm' 00:00, '1 giờ trưa' 13:00."""
    if period in ("afternoon", "evening") and hour < 12:
        return hour + 12
    if period == "noon" and 1 <= hour <= 4:
        return hour + 12
    if period == "night":
        return 0 if hour == 12 else hour + 12 if 7 <= hour <= 11 else hour
    return hour
