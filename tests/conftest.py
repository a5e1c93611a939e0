from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.config import REPO_ROOT
from core.db import Database
from core.i18n import Catalogue
from tests.support.db import backend_name, open_test_database, prepare_postgres


def pytest_sessionstart(session: pytest.Session) -> None:
    prepare_postgres()


def pytest_report_header() -> str:
    return f"xaso database backend: {backend_name()}"


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_test_database(tmp_path)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return Catalogue.load(REPO_ROOT / "data" / "i18n")
