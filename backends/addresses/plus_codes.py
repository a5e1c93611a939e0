"""Open Location Code ("plus codes"): a shared location as a 10-character code (a cell of about
14 × 14 m), and back. The algorithm of the open specification
(github.com/google/open-location-code), full codes only; integer arithmetic as in the reference
implementations so that codes match theirs exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

ALPHABET = "23456789CFGHJMPQRVWX"
SEPARATOR = "+"
SEPARATOR_POSITION = 8
PAIR_LENGTH = 10
_BASE = 20
_LAT_MAX, _LON_MAX = 90, 180
# The 10-digit cell in units of 1/8000 degree (= 1 / 20**3 degree, as integers).
_PAIR_PRECISION = _BASE**3


@dataclass(frozen=True, slots=True)
class CodeArea:
    south: float
    west: float
    north: float
    east: float

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.south + self.north) / 2, (self.west + self.east) / 2)


def encode(latitude: float, longitude: float) -> str:
    """The 10-digit code of the cell holding the point (latitude clipped, longitude wrapped)."""
    latitude = min(max(latitude, -_LAT_MAX), _LAT_MAX)
    longitude = (longitude + _LON_MAX) % 360 - _LON_MAX
    lat = int(round((latitude + _LAT_MAX) * _PAIR_PRECISION, 6) // 1)
    lon = int(round((longitude + _LON_MAX) * _PAIR_PRECISION, 6) // 1)
    lat = min(lat, 2 * _LAT_MAX * _PAIR_PRECISION - 1)  # the north pole belongs to the last row
    digits: list[str] = []
    for _ in range(PAIR_LENGTH // 2):
        digits.append(ALPHABET[lon % _BASE])
        digits.append(ALPHABET[lat % _BASE])
        lat //= _BASE
        lon //= _BASE
    code = "".join(reversed(digits))
    return f"{code[:SEPARATOR_POSITION]}{SEPARATOR}{code[SEPARATOR_POSITION:]}"


def is_full(code: str) -> bool:
    """A full 10-digit code such as ``7PJ2MHQ7+VX``."""
    code = code.strip().upper()
    if len(code) != PAIR_LENGTH + 1 or code[SEPARATOR_POSITION] != SEPARATOR:
        return False
    digits = code.replace(SEPARATOR, "")
    if any(c not in ALPHABET for c in digits):
        return False
    first_lat, first_lon = ALPHABET.index(digits[0]), ALPHABET.index(digits[1])
    return first_lat * _BASE < 2 * _LAT_MAX and first_lon * _BASE < 2 * _LON_MAX


def decode(code: str) -> CodeArea:
    """The cell of a full 10-digit code; ValueError for anything else."""
    if not is_full(code):
        raise ValueError(f"not a full 10-digit plus code: {code!r}")
    digits = code.strip().upper().replace(SEPARATOR, "")
    lat = lon = 0
    for i in range(0, PAIR_LENGTH, 2):
        lat = lat * _BASE + ALPHABET.index(digits[i])
        lon = lon * _BASE + ALPHABET.index(digits[i + 1])
    # Shift in integers first, divide once: the edges are then the doubles nearest the true ones.
    lat -= _LAT_MAX * _PAIR_PRECISION
    lon -= _LON_MAX * _PAIR_PRECISION
    return CodeArea(lat / _PAIR_PRECISION, lon / _PAIR_PRECISION,
                    (lat + 1) / _PAIR_PRECISION, (lon + 1) / _PAIR_PRECISION)
