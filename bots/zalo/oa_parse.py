"""One Zalo OA webhook event → one `Incoming` (or an action for the channel), None for what is ignored.

Events follow PROTOCOLS.md ("Zalo Official Account API v3"): ids and `timestamp` are strings. A
location comes either as an attachment `{"type": "location", "payload": {"coordinates": {…}}}` or
as `message.location`; both are read. Images and files are not fetched here: the channel downloads them
under the upload limits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from bots.zalo import OA_CHANNEL
from core.messages import Attachment, Contact, Incoming, Location

USER_EVENTS = frozenset({"user_send_text", "user_send_image", "user_send_file", "user_send_location",
                         "user_send_sticker", "user_send_gif", "user_send_audio", "user_send_video",
                         "user_send_link", "user_send_business_card", "user_submit_info", "follow",
                         "unfollow"})
MAX_NAME_CHARS = 128


@dataclass(frozen=True, slots=True)
class FileRef:
    url: str
    size: int | None
    filename: str
    content_type: str


@dataclass(frozen=True, slots=True)
class Parsed:
    incoming: Incoming
    file: FileRef | None = None
    unfollow: bool = False
    address: str | None = None  # from user_submit_info, sealed by the channel

    def with_attachment(self, data: bytes) -> Incoming:
        assert self.file is not None
        return replace(self.incoming, attachment=Attachment(self.file.filename, self.file.content_type, data))


def user_of(event: dict[str, Any]) -> str | None:
    """The Zalo user an event is about (its sender, or the follower)."""
    for field in ("sender", "follower", "user"):
        value = event.get(field)
        if isinstance(value, dict) and isinstance(value.get("id"), str | int) and str(value["id"]):
            return str(value["id"])[:128]
    return None


def event_key(event: dict[str, Any]) -> str:
    """The de-duplication key: the message's `msg_id`, else a digest of the whole event (follow, unfollow
    and submit_info carry no msg_id; Zalo retries them byte for byte)."""
    message = event.get("message")
    if isinstance(message, dict) and isinstance(message.get("msg_id"), str) and message["msg_id"]:
        return "m:" + message["msg_id"][:120]
    canonical = json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "h:" + hashlib.sha256(canonical.encode()).hexdigest()


def _location(message: dict[str, Any]) -> Location | None:
    candidates: list[Any] = [message.get("location")]
    for attachment in message.get("attachments") or []:
        if isinstance(attachment, dict) and attachment.get("type") == "location":
            candidates.append((attachment.get("payload") or {}).get("coordinates"))
            candidates.append(attachment.get("payload"))
    for candidate in candidates:
        if not isinstance(candidate, dict):
            continue
        if isinstance(candidate.get("coordinates"), dict):
            candidate = candidate["coordinates"]
        try:
            return Location(float(candidate["latitude"]), float(candidate["longitude"]))
        except (KeyError, TypeError, ValueError):
            continue
    return None


def _attachment(message: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for attachment in message.get("attachments") or []:
        if isinstance(attachment, dict) and attachment.get("type") == kind and isinstance(
                attachment.get("payload"), dict):
            return attachment["payload"]
    return None


def _address(info: dict[str, Any]) -> str | None:
    full = info.get("full_address") or info.get("address")
    if isinstance(full, str):
        return full.strip()[:500] or None
    if isinstance(full, dict):
        parts = [str(full.get(name) or "").strip() for name in ("address", "ward", "district", "city")]
        joined = ", ".join(part for part in parts if part)
        return joined[:500] or None
    return None


def parse_event(event: dict[str, Any]) -> Parsed | None:
    name = event.get("event_name")
    if name not in USER_EVENTS:
        return None  # the OA's own messages echoed back (oa_send_*), reactions, and the like
    user = user_of(event)
    if user is None:
        return None
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    common: dict[str, Any] = {"channel": OA_CHANNEL, "chat_id": user, "user_id": user,
                              "message_id": event_key(event)[:128], "language": "vi", "raw": event}
    if name == "follow":
        return Parsed(Incoming(**common, text="/start"))
    if name == "unfollow":
        return Parsed(Incoming(**common), unfollow=True)
    if name == "user_submit_info":
        info = event.get("info") if isinstance(event.get("info"), dict) else {}
        phone = str(info.get("phone") or "").strip()[:32]
        name_given = str(info.get("name") or "").strip()[:MAX_NAME_CHARS] or None
        common["display_name"] = name_given
        if not phone:
            return Parsed(Incoming(**common, text=""), address=_address(info))
        # Zalo itself verified this number (its form is filled from the account): a verified contact.
        return Parsed(Incoming(**common, contact=Contact(phone, verified=True)), address=_address(info))
    if name == "user_send_text":
        return Parsed(Incoming(**common, text=str(message.get("text") or "")))
    if name == "user_send_location":
        location = _location(message)
        return Parsed(Incoming(**common, location=location) if location else Incoming(**common, text=""))
    if name == "user_send_image":
        payload = _attachment(message, "image")
        if payload and isinstance(payload.get("url"), str):
            return Parsed(Incoming(**common), FileRef(payload["url"], None, "photo.jpg", "image/jpeg"))
    if name == "user_send_file":
        payload = _attachment(message, "file")
        if payload and isinstance(payload.get("url"), str):
            size = payload.get("size")
            filename = str(payload.get("name") or "document")[:128]
            return Parsed(Incoming(**common), FileRef(
                payload["url"], int(size) if _digits(str(size or "")) else None, filename,
                _content_type(filename, str(payload.get("type") or ""))))
    # Stickers, GIFs, audio, video, links: answered as an empty message (a polite menu).
    return Parsed(Incoming(**common, text=""))


def _digits(text: str) -> bool:
    """ASCII digits only, at most 18 (`"²".isdigit()` is true and `int("²")` an error)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _content_type(filename: str, declared: str) -> str:
    by_extension = {"pdf": "application/pdf", "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png",
                    "doc": "application/msword", "docx": "application/vnd.openxmlformats-officedocument."
                    "wordprocessingml.document"}
    extension = (declared or filename.rpartition(".")[2]).lower().lstrip(".")
    return by_extension.get(extension, "application/octet-stream")
