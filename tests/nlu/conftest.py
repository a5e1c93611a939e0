from __future__ import annotations

from pathlib import Path

import pytest

from nlu.embedded import EmbeddedNLU
from nlu.rasa_yaml import TrainingData, load_training_data
from nlu.rules import PHRASES_FILE, EmergencyRules

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
NLU_YML = DATA_DIR / "nlu.yml"
PHRASES_YML = DATA_DIR / PHRASES_FILE


@pytest.fixture(scope="session")
def training_data() -> TrainingData:
    return load_training_data(NLU_YML)


@pytest.fixture(scope="session")
def rules() -> EmergencyRules:
    return EmergencyRules.load(PHRASES_YML)


@pytest.fixture(scope="session")
def engine(training_data: TrainingData, rules: EmergencyRules) -> EmbeddedNLU:
    """Trained once for the whole NLU test run."""
    return EmbeddedNLU.train(training_data, rules=rules)
