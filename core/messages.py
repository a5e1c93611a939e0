"""Platform-neutral message types: one `Incoming` in, `Reply` objects out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat) and math.isfinite(self.lon)):
            raise ValueError("coordinates must be finite numbers")
        if not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
            raise ValueError("coordinates out of range")


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str
    # True only when the platform itself vouches that the contact is the sender's own.
    verified: bool = False


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Voice:
    """A voice message. Speech is not understood yet: it is kept as the platform's own reference
    (no audio is downloaded) so that it can be answered honestly."""

    duration: int
    reference: str


@dataclass(frozen=True, slots=True)
class Incoming:
    channel: str
    chat_id: str
    user_id: str
    message_id: str | None = None
    text: str | None = None
    button: str | None = None
    location: Location | None = None
    contact: Contact | None = None
    attachment: Attachment | None = None
    voice: Voice | None = None
    language: str | None = None
    display_name: str | None = None
    raw: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def kind(self) -> str:
        for name in ("button", "location", "contact", "attachment", "voice"):
            if getattr(self, name) is not None:
                return name
        return "text"


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str
    # A link to open instead (a payment page): channels that can show link buttons do, the others
    # send `data` as for any button.
    url: str | None = None
    # For typed answers (core/answers.py): what pressing it means ("yes", "no", "skip", "cancel",
    # "back", "rating:N") and other words for it. Never sent to a channel.
    means: str | None = field(default=None, compare=False)
    synonyms: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()
    audio_url: str | None = None
    image_url: str | None = None
    document_url: str | None = None
    request_location: bool = False
    request_phone: bool = False
    # "emergency": the 115 answer, which every channel shows so that it cannot be mistaken.
    kind: str | None = None
    # (label, value) pairs a person may need to paste elsewhere (an account number, a transfer note):
    # the web chat shows a copy button for each; the values are in the text for every channel.
    copy: tuple[tuple[str, str], ...] = ()
    # Offer «🔊 Nghe» under it whatever its length (a lesson's step); never sent to a channel.
    listen: bool = field(default=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        shown = {
            "text": self.text,
            "buttons": [_button_json(b) for b in self.buttons],
            "audio_url": self.audio_url,
            "image_url": self.image_url,
            "document_url": self.document_url,
            "request_location": self.request_location,
            "request_phone": self.request_phone,
        }
        if self.kind is not None:
            shown["kind"] = self.kind
        if self.copy:
            shown["copy"] = [{"label": label, "value": value} for label, value in self.copy]
        return shown

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        return cls(
            text=str(data.get("text", "")),
            buttons=tuple(Button(str(b["label"]), str(b["data"]), b.get("url"))
                          for b in data.get("buttons") or ()),
            audio_url=data.get("audio_url"),
            image_url=data.get("image_url"),
            document_url=data.get("document_url"),
            request_location=bool(data.get("request_location", False)),
            request_phone=bool(data.get("request_phone", False)),
            kind=data.get("kind") if isinstance(data.get("kind"), str) else None,
            copy=tuple((str(item["label"]), str(item["value"])) for item in data.get("copy") or ()
                       if isinstance(item, dict) and "label" in item and "value" in item),
        )


def is_web_link(url: str | None) -> bool:
    """An address a platform's link button can open (http or https)."""
    return bool(url) and str(url).lower().startswith(("https://", "http://"))


def phone_of(url: str | None) -> str | None:
    """The number of a `tel:` link, or None."""
    if not url or not url.lower().startswith("tel:"):
        return None
    number = url[4:].strip()
    return number or None


def call_button(label: str, number: str) -> Button:
    """A button that dials `number` where the channel can (web chat, Zalo OA); elsewhere its press
    answers with the number written out, which the phone makes tappable."""
    digits = "".join(ch for ch in number if ch.isdigit() or ch == "+")
    return Button(label, f"call:{digits}", url=f"tel:{digits}")


def _button_json(button: Button) -> dict[str, str]:
    shown = {"label": button.label, "data": button.data}
    if button.url is not None:
        shown["url"] = button.url
    return shown
