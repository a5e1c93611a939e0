"""The in-process NLU service: the embedded engine behind the dialogue's async interface."""

from __future__ import annotations

from nlu.engine import NLUEngine, Parse


class LocalNLU:
    """Parses on the event loop itself: the embedded engine takes a fraction of a millisecond,
    less than a hop to a worker thread would cost."""

    def __init__(self, engine: NLUEngine) -> None:
        self.engine = engine

    async def understand(self, text: str) -> Parse:
        return self.engine.parse(text)
