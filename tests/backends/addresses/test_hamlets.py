from __future__ import annotations

import pytest

from backends.addresses.hamlets import Hamlets
from core.commune import Commune
from core.config import REPO_ROOT


@pytest.fixture(scope="module")
def hamlets() -> Hamlets:
    return Hamlets.from_commune(Commune.load(REPO_ROOT / "data" / "communes" / "LB" / "commune.yml"))


def test_every_demo_hamlet_has_an_outline_holding_its_centre(hamlets: Hamlets) -> None:
    assert len(hamlets) == 6
    for hamlet in hamlets:
        lat, lon = hamlet.centre()
        assert hamlets.locate(lat, lon) == hamlet


@pytest.mark.parametrize(("lat", "lon", "expected"), [
    (21.68, 105.565, "tien_thanh"),
    (21.64, 105.565, "dong_tien"),
    (21.6615, 105.59, "kem"),     # just north of the jagged border between Kèm and Bản Hon
    (21.6605, 105.59, "ban_hon"),  # just south of it
    (21.64, 105.615, "rung_van"),
])
def test_a_location_falls_in_the_right_hamlet(hamlets: Hamlets, lat: float, lon: float,
                                              expected: str) -> None:
    found = hamlets.locate(lat, lon)
    assert found is not None and found.id == expected


def test_outside_the_commune_is_no_hamlet(hamlets: Hamlets) -> None:
    assert hamlets.locate(21.0285, 105.8542) is None  # Hà Nội
    assert hamlets.bounds() == ((21.63, 105.56), (21.69, 105.62))


def test_an_outline_of_two_points_is_refused() -> None:
    with pytest.raises(ValueError, match="3 vertices"):
        Commune.parse({"hamlets": [{"id": "x", "name": "X", "polygon": [[1, 2], [3, 4]]}]})


def test_hamlets_without_outlines_are_listed_but_never_located() -> None:
    hamlets = Hamlets.from_commune(Commune.parse({"hamlets": [{"id": "x", "name": "Xóm X"}]}))
    assert [h.id for h in hamlets] == ["x"] and hamlets.locate(21.6, 105.6) is None
