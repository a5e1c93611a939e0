"""The NLU contract: every engine (embedded, Rasa over HTTP) turns a text into a ``Parse``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

# The fixed inventory, in the order of ARCHITECTURE.md. data/nlu.yml may train more intents.
INTENTS: tuple[str, ...] = (
    "greet",
    "goodbye",
    "thanks",
    "help",
    "dossier_submit",
    "dossier_status",
    "procedure_info",
    "doctor_ask",
    "doctor_appointment",
    "emergency",
    "shop_browse",
    "shop_order",
    "order_status",
    "announcement_latest",
    "announcement_subscribe",
    "address_code",
    "my_data",
    "report_problem",
    "learn_skills",
    "tourism_find",
    "out_of_scope",
)

OUT_OF_SCOPE = "out_of_scope"
EMERGENCY = "emergency"

ENTITY_TYPES: tuple[str, ...] = (
    "procedure",
    "dossier_code",
    "product",
    "quantity",
    "unit",
    "order_code",
    "date",
    "time",
    "phone",
)


@dataclass(frozen=True, slots=True)
class Entity:
    """One entity; ``start``/``end`` are character offsets into the text given to ``parse``."""

    entity: str
    value: str
    start: int
    end: int

    def to_json(self) -> dict[str, Any]:
        return {"entity": self.entity, "value": self.value, "start": self.start, "end": self.end}


@dataclass(frozen=True, slots=True)
class Parse:
    text: str
    intent: str
    confidence: float
    entities: tuple[Entity, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "intent": self.intent,
            "confidence": self.confidence,
            "entities": [entity.to_json() for entity in self.entities],
        }

    def first(self, entity: str) -> Entity | None:
        """The first entity of the given type, if any."""
        return next((e for e in self.entities if e.entity == entity), None)


class NLUEngine(Protocol):
    def parse(self, text: str) -> Parse: ...


class NLUService(Protocol):
    """What the dialogue awaits: an engine in-process, or a server over the network."""

    async def understand(self, text: str) -> Parse: ...
