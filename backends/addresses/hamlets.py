"""The commune's hamlets (xóm) and their outlines: which hamlet a shared location falls in.

Outlines come from data/commune.yml as [latitude, longitude] vertices (read once: core/commune.py);
the commune edits them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from core.commune import Commune, Point


@dataclass(frozen=True, slots=True)
class Hamlet:
    id: str
    name: str
    polygon: tuple[Point, ...]

    def contains(self, lat: float, lon: float) -> bool:
        """Even-odd ray casting; good for the small, simple outlines of a commune's hamlets."""
        inside = False
        vertices = self.polygon
        for (lat_a, lon_a), (lat_b, lon_b) in zip(vertices, vertices[1:] + vertices[:1], strict=True):
            if (lon_a > lon) != (lon_b > lon):
                crossing = lat_a + (lon - lon_a) * (lat_b - lat_a) / (lon_b - lon_a)
                if lat < crossing:
                    inside = not inside
        return inside

    def centre(self) -> Point:
        lats = [lat for lat, _ in self.polygon]
        lons = [lon for _, lon in self.polygon]
        return (sum(lats) / len(lats), sum(lons) / len(lons))


class Hamlets:
    def __init__(self, hamlets: Sequence[Hamlet]) -> None:
        self._hamlets = tuple(hamlets)
        self._by_id = {hamlet.id: hamlet for hamlet in self._hamlets}

    @classmethod
    def from_commune(cls, commune: Commune) -> Hamlets:
        """The commune's hamlets, in the order of commune.yml (checked when it was read: core/commune.py)."""
        return cls([Hamlet(id=area.id, name=area.name, polygon=area.polygon) for area in commune.hamlets])

    def __iter__(self) -> Iterator[Hamlet]:
        return iter(self._hamlets)

    def __len__(self) -> int:
        return len(self._hamlets)

    def get(self, hamlet_id: str) -> Hamlet | None:
        return self._by_id.get(hamlet_id)

    def locate(self, lat: float, lon: float) -> Hamlet | None:
        """The hamlet whose outline holds the point; None outside the commune."""
        outlined = (hamlet for hamlet in self._hamlets if hamlet.polygon)
        return next((hamlet for hamlet in outlined if hamlet.contains(lat, lon)), None)

    def bounds(self) -> tuple[Point, Point] | None:
        """South-west and north-east corners of all outlines, for a map's initial view."""
        points = [point for hamlet in self._hamlets for point in hamlet.polygon]
        if not points:
            return None
        return ((min(p[0] for p in points), min(p[1] for p in points)),
                (max(p[0] for p in points), max(p[1] for p in points)))
