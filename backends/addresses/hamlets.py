"""The commune's hamlets (xóm) and their outlines: which hamlet a shared location falls in.

Outlines come from data/commune.yml as [latitude, longitude] vertices (read once: core/commune.py);
the commune edits them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from core.commune import Commune, HamletArea, Point

# One hamlet: its id, name and outline, exactly as core/commune.py read them (no copy of its own).
Hamlet = HamletArea


class Hamlets:
    def __init__(self, hamlets: Sequence[Hamlet]) -> None:
        self._hamlets = tuple(hamlets)
        self._by_id = {hamlet.id: hamlet for hamlet in self._hamlets}

    @classmethod
    def from_commune(cls, commune: Commune) -> Hamlets:
        """The commune's hamlets, in the order of commune.yml (checked when it was read: core/commune.py)."""
        return cls(commune.hamlets)

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
