"""The embedded NLU: TF-IDF n-grams + logistic regression, rule-based entities, emergency rules.

Features are word 1–2-grams and char_wb 2–5-grams of both the normalised text and its
diacritics-free fold, so "nộp hồ sơ", "nop ho so" and "nop hs" land close together. The model
is small (a few MB on disk), trains in about a second, loads in tens of milliseconds and parses
in a fraction of a millisecond, so it runs in-process on every message.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from nlu.datetime import Clock, vietnam_now
from nlu.engine import EMERGENCY, OUT_OF_SCOPE, Parse
from nlu.entities import EntityExtractor
from nlu.normalize import fold_normalized, is_blank, normalize
from nlu.rasa_yaml import TrainingData, load_training_data
from nlu.rules import PHRASES_FILE, EmergencyRules

FORMAT_VERSION = 1  # bump when the features or the saved layout change: old models get retrained
DEFAULT_THRESHOLD = 0.3
# The model alone calls an emergency only this sure and with a danger term in the text (nlu/rules.py);
# below that its next guess stands. Red-flag phrases need neither.
EMERGENCY_EVIDENCE_CONFIDENCE = 0.5
# Longer texts are classified on their beginning only: it bounds the parse time, and a request
# that long is a letter, not a chat turn. Entities are still searched in the whole text.
MAX_CLASSIFY_CHARS = 1000


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_WORD_RE = re.compile(r"\w+")


def word_ngrams(text: str) -> list[str]:
    """Word 1- and 2-grams."""
    words = _WORD_RE.findall(text)
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


def char_wb_ngrams(text: str) -> list[str]:
    """Character 2- to 5-grams inside space-padded words; punctuation is dropped first."""
    grams: list[str] = []
    for word in _WORD_RE.findall(text):
        padded = f" {word} "
        for n in range(2, 6):
            grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


# (analyzer, which text form: 0 = normalised, 1 = folded)
_BLOCKS: tuple[tuple[Callable[[str], list[str]], int], ...] = (
    (word_ngrams, 0),
    (char_wb_ngrams, 0),
    (word_ngrams, 1),
    (char_wb_ngrams, 1),
)


@dataclass(frozen=True, slots=True)
class _Block:
    analyzer: Callable[[str], list[str]]
    form: int
    vocabulary: dict[str, int]
    idf: np.ndarray
    offset: int  # first column of this block in the concatenated feature space


@dataclass(frozen=True, slots=True)
class _Features:
    """TF-IDF blocks (word and char_wb n-grams of both forms), concatenated like a FeatureUnion.

    Training uses scikit-learn's TfidfVectorizer; ``row`` recomputes the same weights for one
    text in plain Python/numpy, because the vectorizer's per-call checks cost more than the maths.
    """

    blocks: tuple[_Block, ...]

    @classmethod
    def fit_transform(cls, forms: Sequence[tuple[str, str]]) -> tuple[_Features, sparse.csr_matrix]:
        blocks: list[_Block] = []
        matrices: list[sparse.csr_matrix] = []
        offset = 0
        for analyzer, form in _BLOCKS:
            vectorizer = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True)
            matrices.append(vectorizer.fit_transform([f[form] for f in forms]))
            vocabulary = {str(term): int(index) for term, index in vectorizer.vocabulary_.items()}
            blocks.append(_Block(analyzer, form, vocabulary, vectorizer.idf_.copy(), offset))
            offset += len(vocabulary)
        return cls(tuple(blocks)), sparse.hstack(matrices, format="csr")

    @property
    def size(self) -> int:
        last = self.blocks[-1]
        return last.offset + len(last.vocabulary)

    def row(self, forms: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and TF-IDF values of one text (sublinear tf, l2 per block)."""
        columns: list[int] = []
        values: list[float] = []
        for block in self.blocks:
            counts = Counter(block.analyzer(forms[block.form]))
            found = [(block.vocabulary[t], c) for t, c in counts.items() if t in block.vocabulary]
            if not found:
                continue
            index = np.fromiter((j for j, _ in found), dtype=np.intp, count=len(found))
            tf = 1.0 + np.log(np.fromiter((c for _, c in found), dtype=np.float64, count=len(found)))
            weights = tf * block.idf[index]
            weights /= np.sqrt(weights @ weights)
            columns.extend((index + block.offset).tolist())
            values.extend(weights.tolist())
        return np.asarray(columns, dtype=np.intp), np.asarray(values, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class _Classifier:
    """Weights of a fitted multinomial logistic regression; probabilities without sklearn overhead."""

    classes: tuple[str, ...]
    coef_t: np.ndarray  # (features, classes)
    intercept: np.ndarray  # (classes,)

    @classmethod
    def fit(cls, features: sparse.csr_matrix, labels: Sequence[str]) -> _Classifier:
        model = LogisticRegression(C=20.0, max_iter=3000, class_weight="balanced")
        # One BLAS thread: on a busy 2-core box, OpenBLAS threads fight and training gets 5x slower.
        with threadpool_limits(limits=1):
            model.fit(features, labels)
        coef_t = np.ascontiguousarray(model.coef_.T)
        return cls(tuple(str(c) for c in model.classes_), coef_t, model.intercept_.copy())

    def probabilities(self, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
        scores = values @ self.coef_t[columns] + self.intercept
        scores -= scores.max()
        exp = np.exp(scores)
        return exp / exp.sum()


class EmbeddedNLU:
    """In-process NLU. ``parse`` only reads fitted state, so concurrent calls are safe."""

    def __init__(
        self,
        features: _Features,
        classifier: _Classifier,
        extractor: EntityExtractor,
        rules: EmergencyRules,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        data_hash: str = "",
        clock: Clock = vietnam_now,
    ) -> None:
        self._features = features
        self._classifier = classifier
        self._extractor = extractor
        self.rules = rules
        self.threshold = threshold
        self.data_hash = data_hash
        self.clock = clock  # resolves "mai", "thứ hai"…; tests set a fixed one

    @property
    def intents(self) -> tuple[str, ...]:
        return self._classifier.classes

    @classmethod
    def train(
        cls,
        data: TrainingData,
        *,
        rules: EmergencyRules | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        data_hash: str = "",
        clock: Clock = vietnam_now,
    ) -> EmbeddedNLU:
        if len({example.intent for example in data.examples}) < 2:
            raise ValueError("training data needs examples of at least two intents")
        forms = [_forms(example.text) for example in data.examples]
        features, matrix = _Features.fit_transform(forms)
        classifier = _Classifier.fit(matrix, [e.intent for e in data.examples])
        rules = rules if rules is not None else EmergencyRules.default()
        engine = cls(
            features, classifier, EntityExtractor(data), rules,
            threshold=threshold, data_hash=data_hash, clock=clock,
        )
        engine._warm_up()
        return engine

    def parse(self, text: str) -> Parse:
        entities = self._extractor.extract(text, self.clock())
        normalized, folded = _forms(text[:MAX_CLASSIFY_CHARS])
        if not normalized or is_blank(normalized):
            return Parse(text, OUT_OF_SCOPE, 1.0, entities)
        if self.rules.match(text, normalized=normalized, folded=folded):
            return Parse(text, EMERGENCY, 1.0, entities)
        probabilities = self._classifier.probabilities(*self._features.row((normalized, folded)))
        best = int(probabilities.argmax())
        if self._classifier.classes[best] == EMERGENCY and not (
                probabilities[best] >= EMERGENCY_EVIDENCE_CONFIDENCE
                and self.rules.evidence(normalized, folded)):
            # "tra cứu", "co", "nghiên cứu": no evidence of danger, so the next guess answers, if sure.
            probabilities = probabilities.copy()
            probabilities[best] = 0.0
            best = int(probabilities.argmax())
            if probabilities[best] < EMERGENCY_EVIDENCE_CONFIDENCE:
                return Parse(text, OUT_OF_SCOPE, round(1.0 - float(probabilities[best]), 4), entities)
        confidence = float(probabilities[best])
        intent = self._classifier.classes[best]
        if confidence < self.threshold:
            # Too unsure to act: out_of_scope, as sure as the best guess was unsure.
            return Parse(text, OUT_OF_SCOPE, round(1.0 - confidence, 4), entities)
        return Parse(text, intent, round(confidence, 4), entities)

    def save(self, path: Path) -> None:
        """Write atomically: several server processes may share one model file."""
        state: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "sklearn": sklearn.__version__,
            "data_hash": self.data_hash,
            "threshold": self.threshold,
            "features": self._features,
            "classifier": self._classifier,
            "extractor": self._extractor,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            joblib.dump(state, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load_or_train(cls, nlu_yml: Path, model_path: Path) -> EmbeddedNLU:
        """See the module-level ``load_or_train``."""
        return load_or_train(nlu_yml, model_path)

    @classmethod
    def load(cls, path: Path, *, rules: EmergencyRules | None = None) -> EmbeddedNLU:
        """Load a model written by ``save``. Only load files this program wrote (joblib is pickle)."""
        state = _read_state(path)
        if state is None:
            raise ValueError(f"{path}: not a model of this xaso and scikit-learn version; retrain it")
        return cls._from_state(state, rules if rules is not None else EmergencyRules.default())

    @classmethod
    def _from_state(cls, state: dict[str, Any], rules: EmergencyRules) -> EmbeddedNLU:
        engine = cls(
            state["features"],
            state["classifier"],
            state["extractor"],
            rules,
            threshold=state["threshold"],
            data_hash=state["data_hash"],
        )
        engine._warm_up()
        return engine

    def _warm_up(self) -> None:
        # The first parse pays for numpy and regex caches; pay it here, not on a villager's message.
        self.parse("xin chào 2 cân chè")


def _forms(text: str) -> tuple[str, str]:
    normalized = normalize(text)
    return normalized, fold_normalized(normalized)


def _compatible(state: object) -> bool:
    return (
        isinstance(state, dict)
        and state.get("format") == FORMAT_VERSION
        and state.get("sklearn") == sklearn.__version__
    )


def _read_state(path: Path) -> dict[str, Any] | None:
    """The saved state, or None when the file is missing, truncated, foreign or outdated."""
    try:
        state = joblib.load(path)
    except Exception:
        return None
    return state if _compatible(state) else None


def train_from_file(nlu_yml: Path, *, rules: EmergencyRules | None = None) -> EmbeddedNLU:
    rules = rules if rules is not None else EmergencyRules.load(nlu_yml.parent / PHRASES_FILE)
    return EmbeddedNLU.train(load_training_data(nlu_yml), rules=rules, data_hash=file_hash(nlu_yml))


def load_or_train(nlu_yml: Path, model_path: Path) -> EmbeddedNLU:
    """The saved model if it was trained from this very nlu.yml; otherwise train and save.

    Emergency phrases are read fresh from ``emergency_phrases.yml`` beside nlu.yml every time,
    so an edit there needs no retraining.
    """
    rules = EmergencyRules.load(nlu_yml.parent / PHRASES_FILE)
    state = _read_state(model_path) if model_path.exists() else None
    if state is not None and state["data_hash"] == file_hash(nlu_yml):
        return EmbeddedNLU._from_state(state, rules)
    engine = train_from_file(nlu_yml, rules=rules)
    engine.save(model_path)
    return engine
