"""Runs the generic form engine inside a conversation: the form's state lives in the conversation
state (so a restart resumes it), photos are checked and stored only when a field expects one, and a
finished form is handed to the flow that started it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bots.dialogue.base import Context
from bots.dialogue.menu import menu_reply
from bots.dialogue.uploads import store_upload
from core.forms import FormRunner, FormSpec
from core.messages import Reply
from core.state import State

FLOW = "form"
Completion = Callable[[Context, dict[str, Any]], Awaitable[list[Reply]]]


@dataclass
class Forms:
    specs: dict[str, FormSpec]
    completions: dict[str, Completion] = field(default_factory=dict)
    # Forms whose photos are sensitive (the consult's): stored sealed with the field cipher.
    sealed: set[str] = field(default_factory=set)

    def on_complete(self, name: str, handler: Completion) -> None:
        self.completions[name] = handler

    def runner(self, context: Context, form_id: str) -> FormRunner:
        return FormRunner(self.specs[form_id], context.services.catalogue)

    async def start(self, context: Context, form_id: str, then: str) -> list[Reply]:
        """Opens `form_id`; when it completes, the completion registered as `then` gets the values."""
        if then not in self.completions:
            raise KeyError(f"no completion registered as {then!r}")
        step = self.runner(context, form_id).start(context.lang)
        context.set_state(State(FLOW, {"form_id": form_id, "then": then, "form": step.state}))
        return list(step.replies)

    async def handle(self, context: Context) -> list[Reply] | None:
        assert context.state is not None
        data = context.state.data
        form_id, then = data.get("form_id"), data.get("then")
        known = form_id in self.specs and then in self.completions
        if not known or not isinstance(data.get("form"), dict):
            context.set_state(None)  # a form removed from the YAML since: start over politely
            return [menu_reply(context, "form.gone")]
        runner = self.runner(context, form_id)
        reference = await self._attachment(context, runner, data["form"])
        if isinstance(reference, Reply):
            return [reference]
        step = runner.handle(data["form"], context.incoming, context.lang, reference)
        if step.outcome == "continue":
            context.set_state(State(FLOW, {**data, "form": step.state}))
            return list(step.replies)
        context.set_state(None)
        if step.outcome == "cancelled":
            return [*step.replies, menu_reply(context, "cancelled")]
        return [*step.replies, *await self.completions[then](context, dict(step.values))]

    async def _attachment(self, context: Context, runner: FormRunner,
                          state: dict[str, Any]) -> str | Reply | None:
        """Stores an attachment the current field expects; refuses a bad one with a polite reason."""
        attachment = context.incoming.attachment
        if attachment is None or not runner.expects_attachment(state):
            return None
        return await store_upload(context, sealed=context.state is not None
                                  and context.state.data.get("form_id") in self.sealed)
