from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bots.assistant import Assistant
from core.config import REPO_ROOT, Settings
from core.db import Database
from core.i18n import Catalogue
from core.signing import create_commune_keys
from nlu.engine import NLUEngine
from tests.support.db import backend_name, open_test_database, prepare_postgres
from tests.support.served import served_client

# Fixtures shared by test modules of several folders.
pytest_plugins = ["tests.support.fastjson_modes", "tests.support.channel_drivers"]


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


@pytest.fixture(scope="session")
def nlu_engine(tmp_path_factory: pytest.TempPathFactory) -> NLUEngine:
    from nlu.embedded import EmbeddedNLU

    model = tmp_path_factory.mktemp("nlu") / "model.joblib"
    return EmbeddedNLU.load_or_train(REPO_ROOT / "data" / "nlu.yml", model)


@pytest.fixture
def settings(tmp_path: Path, database: Database) -> Settings:
    """Test settings; the commune's signing keys exist, as after a first start."""
    configured = Settings(_env_file=None, database_url=database.url, var_dir=tmp_path / "var",
                          secret_key="test-secret-key-for-xaso", public_url="http://127.0.0.1:8080",
                          load_demo_data=False, tts_engine="espeak")  # speech never reaches Google
    create_commune_keys(configured.var_dir / "keys", configured.commune_name)
    return configured


@pytest.fixture
async def assistant(settings: Settings, database: Database,
                    nlu_engine: NLUEngine) -> AsyncIterator[Assistant]:
    built = Assistant.build(settings, nlu=nlu_engine, database=database)
    await built.start(migrate=False)
    yield built
    await built.services.audit.close()


@pytest.fixture
async def client(settings: Settings, database: Database, nlu_engine: NLUEngine) -> AsyncIterator[TestClient]:
    """The whole service over real HTTP on loopback, with its outbox senders running."""
    async with served_client(settings, database, nlu_engine) as test_client:
        yield test_client
