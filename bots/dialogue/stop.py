"""Stop inside any open conversation, in one vocabulary (core/answers: `is_cancel`, and `is_back` for
one step back).

ARCHITECTURE.md promises "hủy"/"cancel" and "quay lại"/"back" in every flow. Each step machine reads
the message typed in its state with core/answers, and answers a stop in its own words (`cancelled`
with its key, or the menu's "Đã hủy"). Where the answer is free text (a description, an
announcement, a message to the doctor, a reason) only a message that is nothing but a stop word stops:
"dừng cấp nước sáng mai" is an announcement, not a stop."""

from __future__ import annotations

from bots.dialogue.base import Context
from bots.dialogue.menu import menu_reply
from core import answers
from core.messages import Reply


def typed_text(context: Context) -> str:
    """What the user typed this turn: also when the router read it as a button on offer (a "hủy" at a
    yes/no question becomes its «no»), so that a flow can tell a stop from that answer."""
    if context.incoming.button is not None:
        return str(context.extras.get("typed_answer") or "").strip()
    return (context.incoming.text or "").strip()


def wants_out(context: Context, *, free_text: bool = False) -> bool:
    """The message typed is a stop ("hủy", "huy", "thôi", "dừng", "cancel"…); `free_text` where the
    answer is the user's own words, so that only a stop word alone stops."""
    text = typed_text(context)
    if not text or text.startswith("/") or not answers.is_cancel(text, strict=free_text):
        return False
    # Read as a button on offer, at a question: where a yes is an answer "dung" is "đúng", not "dừng".
    return context.incoming.button is None or answers.yes_no(text) is not True


def cancelled(context: Context, key: str = "cancelled") -> list[Reply]:
    """Leaves the conversation, nothing kept, with the flow's polite answer and the menu."""
    context.set_state(None)
    return [menu_reply(context, key)]
