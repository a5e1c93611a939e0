"""What the services are built from: the commune's catalogues, loaded once by the assistant. It names no
service (each builds its own desks from it), so that no service imports another through it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from backends.health.roster import Roster, load_roster
from backends.onestop.calendar import WorkingCalendar, load_calendar
from backends.onestop.catalogue import ProcedureCatalogue, load_catalogue
from backends.shop.catalogue import ShopCatalogue, load_shop
from backends.skills.lessons import Courses, load_courses
from backends.tourism.places import Tourism, load_tourism
from bots.dialogue.forms import Forms
from core.province import commune_path


@dataclass
class Kit:
    forms: Forms
    procedures: ProcedureCatalogue
    calendar: WorkingCalendar
    roster: Roster | None = None
    products: ShopCatalogue | None = None  # None: the commune runs no shop (its menu entries say so)
    courses: Courses = field(default_factory=lambda: Courses([]))  # digital skills (data/lessons/)
    tourism: Tourism = field(default_factory=Tourism)  # places, itineraries, homestays (data/tourism/)

    @classmethod
    def load(cls, data_dir: Path, forms: Forms, commune: str) -> Kit:
        """Commune `commune`'s catalogues (procedures, holidays, doctors, products, courses, places):
        its own files in data/communes/<code>/, else the province's shared ones in `data_dir`
        (core/province.py)."""
        def path(name: str) -> Path:
            return commune_path(data_dir, commune, name)

        calendar = load_calendar(path("holidays.yml"))
        return cls(forms, load_catalogue(path("procedures.yml")), calendar,
                   load_roster(path("doctors.yml"), calendar), load_shop(path("products.yml")),
                   load_courses(path("lessons")), load_tourism(path("tourism")))
