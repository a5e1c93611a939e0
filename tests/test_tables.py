"""Every table of the project is declared where Alembic looks (bots/tables.py), so autogenerate sees
it: a table module a service forgot to list in its unit's TABLES fails here, naming the table."""

from __future__ import annotations

import importlib
import pkgutil

import backends
import bots
import core
from bots.tables import table_modules
from core.models import Base


def _import_everything() -> None:
    for package in (core, backends, bots):
        for found in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            importlib.import_module(found.name)


def test_every_table_module_is_declared() -> None:
    _import_everything()
    declared = set(table_modules())
    undeclared = sorted(f"{mapper.local_table.name} ({mapper.class_.__module__})"
                        for mapper in Base.registry.mappers
                        if mapper.class_.__module__ not in declared)
    assert undeclared == [], "declare these table modules in their service's TABLES (or bots/tables.py)"


def test_declared_modules_hold_tables() -> None:
    """No stale entry: each declared module defines at least one table."""
    _import_everything()
    holding = {mapper.class_.__module__ for mapper in Base.registry.mappers}
    assert [module for module in table_modules() if module not in holding] == []
