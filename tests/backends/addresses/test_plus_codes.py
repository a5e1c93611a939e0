"""Open Location Code against the published test vectors (google/open-location-code test_data),
round trips over the commune and the globe (hypothesis), and refusal of malformed codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.addresses.plus_codes import decode, encode, is_full

# encoding.csv / decoding.csv rows with 10-digit codes: (latitude, longitude, code).
PUBLISHED = [
    (20.3700625, 2.7821875, "7FG49QCJ+2V"),
    (47.0000625, 8.0000625, "8FVC2222+22"),
    (-41.2730625, 174.7859375, "4VCPPQGP+Q9"),
    (-89.9999375, -179.9999375, "22222222+22"),
    (90.0, 1.0, "CFX3X2X2+X2"),  # the north pole belongs to the last row
    (47.365590, 8.524997, "8FVC9G8F+6X"),  # the reference module's own example (Zürich)
    (47.0000625, 728.0000625, "8FVC2222+22"),  # longitudes wrap
    (47.0000625, -711.9999375, "8FVC2222+22"),
]
# decoding.csv: code → south, west, north, east.
CELLS = [
    ("7FG49QCJ+2V", (20.37, 2.782125, 20.370125, 2.78225)),
    ("8FVC2222+22", (47.0, 8.0, 47.000125, 8.000125)),
    ("4VCPPQGP+Q9", (-41.273125, 174.785875, -41.273, 174.786)),
    ("22222222+22", (-90.0, -180.0, -89.999875, -179.999875)),
]


@pytest.mark.parametrize(("lat", "lon", "code"), PUBLISHED)
def test_published_encodings(lat: float, lon: float, code: str) -> None:
    assert encode(lat, lon) == code


@pytest.mark.parametrize(("code", "cell"), CELLS)
def test_published_decodings(code: str, cell: tuple[float, float, float, float]) -> None:
    area = decode(code.lower())
    assert (area.south, area.west, area.north, area.east) == pytest.approx(cell, abs=1e-9)


@given(st.floats(21.62, 21.70), st.floats(105.55, 105.63))
def test_round_trip_in_the_commune_within_the_cell(lat: float, lon: float) -> None:
    code = encode(lat, lon)
    area = decode(code)
    # the reference rounds to 6 decimals of 1/8000 degree before flooring: edges within 1e-9
    assert area.south - 1e-9 <= lat < area.north + 1e-9 and area.west - 1e-9 <= lon < area.east + 1e-9
    assert (area.north - area.south) * 111_000 < 14  # about 14 m
    assert encode(*area.centre) == code


@given(st.floats(-90, 90), st.floats(-180, 179.9999))
def test_round_trip_anywhere(lat: float, lon: float) -> None:
    code = encode(lat, lon)
    assert is_full(code) and len(code) == 11
    assert encode(*decode(code).centre) == code


@pytest.mark.parametrize("bad", ["", "7FG49QCJ2V", "7FG49QCJ+2", "7FG49QCJ+2VX", "7FG4+", "ZZZZZZZZ+ZZ",
                                 "7FG49Q00+", "X2222222+22", "2X222222+22", "7FG49QCJ-2V"])
def test_malformed_codes_are_refused(bad: str) -> None:
    assert not is_full(bad)
    with pytest.raises(ValueError):
        decode(bad)
