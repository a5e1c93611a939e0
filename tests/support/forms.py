"""The example form (data/forms/example.yml) driven the way the dialogue drives it: a fresh runner and
spec for every message, the state through JSON in between; one valid answer per field."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from core.forms import FormRunner, FormSpec, Step, load_forms
from core.i18n import Catalogue
from core.messages import Attachment, Incoming

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "data" / "forms" / "example.yml"
FORM_ID = "example_registration"
TODAY = dt.date(2026, 3, 1)
CATALOGUE = Catalogue.load(ROOT / "data" / "i18n")
# One valid typed answer per field, in order; the photo is sent as an attachment.
ANSWERS = ["nguyen van an", "15/10/1990", "001090123456", "0912 345 678", "Thôn Tây"]
PHOTO = Attachment("cccd.jpg", "image/jpeg", b"\xff\xd8")


def fresh_runner(spec: FormSpec | None = None) -> FormRunner:
    """A runner built from a freshly loaded spec: what a restarted process would have. (The catalogue is
    read-only and slow to load, so it is shared; test_restart_in_the_middle reloads it as well.)"""
    spec = spec or load_forms(EXAMPLE)[FORM_ID]
    return FormRunner(spec, CATALOGUE, today=lambda: TODAY)


def message(text: str | None = None, button: str | None = None, **extra: Any) -> Incoming:
    return Incoming(channel="test", chat_id="c1", user_id="u1", text=text, button=button, **extra)


class Chat:
    """Drives one conversation the way the dialogue will: the state goes through JSON text between
    messages (as in the conversation-state table) and every message gets a new runner and spec."""

    def __init__(self, lang: str = "vi", spec: FormSpec | None = None) -> None:
        self.lang = lang
        self.spec = spec
        step = fresh_runner(spec).start(lang)
        self.stored: str | None = json.dumps(step.state)
        self.last = step

    @property
    def state(self) -> dict[str, Any]:
        assert self.stored is not None
        return json.loads(self.stored)

    def send(
        self, text: str | None = None, button: str | None = None, ref: str | None = None, **extra: Any
    ) -> Step:
        step = fresh_runner(self.spec).handle(self.state, message(text, button, **extra), self.lang, ref)
        self.stored = None if step.state is None else json.dumps(step.state)
        self.last = step
        return step

    def text(self) -> str:
        return "\n".join(reply.text for reply in self.last.replies)

    def buttons(self) -> dict[str, str]:
        return {b.data: b.label for reply in self.last.replies for b in reply.buttons}

    def fill(self, count: int) -> None:
        for answer in ANSWERS[:count]:
            assert self.send(answer).outcome == "continue"
        if count > len(ANSWERS):
            self.send(attachment=PHOTO, ref="media:7")
