"""Which commune a villager belongs to, where one installation serves several (core/province.py).

A villager is asked once, on first contact, with a button per commune; typing its name (with or
without diacritics, "xã" or not), its number in the list or its code, or sharing a location inside one
of its hamlets answers too. A commune's own entry link answers before anything is asked: the web chat's
`/chat?commune=SM`, and Telegram's `https://t.me/<bot>?start=SM`, which the app sends as `/start SM`
(a villager of another commune who opens it is shown the question, their commune named, rather than
moved without a word). The choice is remembered (`users.commune`) and changed with /xa, the menu's
«Đổi xã» (commune:show) or "đổi xã" typed. What the villager first asked is then answered by their commune's
services. A red flag is never held back by the question: the 115 answer comes first. Staff belong to
the commune of their invite (core/identity.py), so the question is theirs only if they change it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from core.commune import Commune
from core.i18n import Catalogue
from core.identity import find_user, invite_commune, set_commune
from core.messages import Button, Incoming, Reply
from core.pipeline import Turn
from core.province import Province
from core.questions import Offered, remember
from core.roles import command_argument, command_name
from core.state import State, clear_state, save_state
from core.text import fold
from nlu.engine import EMERGENCY

if TYPE_CHECKING:
    from bots.dialogue.base import Dialogue

COMMAND = "/xa"
START = "/start"  # `/start SM`: a commune's Telegram link (t.me/<bot>?start=SM)
JOIN = "/join"
FAMILY = "commune"  # buttons: commune:set:<code>
FLOW = "commune"  # the conversation state while the question is open
# What asks for the question again, typed (folded: no diacritics, lower case).
ASKING = frozenset(fold(phrase) for phrase in (
    "đổi xã", "chọn xã", "chọn lại xã", "xã khác", "chuyển xã", "xã của tôi", "tôi ở xã nào",
    "change commune", "choose commune", "my commune"))
# Answered before a commune is chosen, by the installation's own commune: redeeming a staff invite
# (which names the commune), one's own data, leaving a flow, help.
BEFORE_CHOOSING = frozenset({"/join", "/mydata", "/cancel", "/help", "/lang"})
LONGEST_ASKING = max(len(phrase) for phrase in ASKING)


class CommuneGate:
    def __init__(self, province: Province, catalogue: Catalogue) -> None:
        self.province = province
        self.catalogue = catalogue

    async def __call__(self, dialogue: Dialogue, turn: Turn, state: State | None,
                       asked: Offered | None) -> list[Reply] | None:
        identity = turn.identity
        assert identity is not None
        incoming = turn.incoming
        text = (incoming.text or "").strip()
        command = command_name(text) if text else None
        if command == COMMAND or (command is None and len(text) <= LONGEST_ASKING
                                  and fold(text) in ASKING):
            return await self._show(dialogue, turn)
        if incoming.button is not None and incoming.button.startswith(f"{FAMILY}:"):
            return await self._pressed(dialogue, turn, state, incoming.button)
        current = self.province.get(identity.commune)
        if command == JOIN and self.province.several:
            # An invite is for a commune: it is redeemed among that commune's services, which tell its
            # admins and name its sellers, and whose staff the newcomer becomes.
            invited = self.province.get(await invite_commune(turn.session, dialogue.services.hasher,
                                                             command_argument(text)))
            if invited is not None and invited is not current:
                turn.identity = dataclasses.replace(identity, commune=invited.code)
                return await dialogue.converse(turn, None, None)
        if command == START and self.province.several:
            linked = self._linked(text)
            if linked is not None and current is None:
                return await self._choose(dialogue, turn, linked, None)
            if linked is not None and linked is not current:
                return await self._show(dialogue, turn)
        answering = state is not None and state.flow == FLOW
        if not answering and (current is not None or not self.province.several):
            return None  # the usual message: routed in the user's commune
        chosen = self._answer(incoming, answering)
        if chosen is not None:
            return await self._choose(dialogue, turn, chosen, state)
        if current is not None:  # asked with /xa, answered with something else: that is routed
            await clear_state(turn.session, identity.id)
            return await dialogue.converse(turn, None, None)
        if command in BEFORE_CHOOSING:
            return None
        replies: list[Reply] = []
        if text and command is None and self._emergency(dialogue, text):
            replies = await dialogue.converse(turn, None, asked)  # 115 first, then the question
            text = ""
        # The latest request typed is answered once the commune is known.
        pending = text if command is None else _pending(state)
        await save_state(turn.session, identity.id, State(FLOW, {"asked": pending}),
                         dialogue.services.cipher)
        return [*replies, self._question(turn.language, "commune.ask")]

    # What the villager did

    def _answer(self, incoming: Incoming, answering: bool) -> Commune | None:
        """The commune a message names: a first message only by its name or code alone (what else it
        says is a request, kept for after); an answer to the question also loosely."""
        if incoming.location is not None:
            return self.province.at(incoming.location.lat, incoming.location.lon)
        text = (incoming.text or "").strip()
        if text.isdigit() and 1 <= int(text) <= len(self.province):
            return list(self.province)[int(text) - 1]
        return self.province.named(text, loosely=answering) if text and len(text) <= 60 else None

    def _linked(self, text: str) -> Commune | None:
        """The commune a `/start <code>` names (a commune's Telegram link); None for a bare /start."""
        return self.province.get(command_argument(text).upper())

    async def _pressed(self, dialogue: Dialogue, turn: Turn, state: State | None,
                       data: str) -> list[Reply]:
        _family, _, rest = data.partition(":")
        action, _, code = rest.partition(":")
        if action == "show":  # «Đổi xã» in the menu
            return await self._show(dialogue, turn)
        commune = self.province.get(code) if action == "set" else None
        if commune is None:  # an old button, or one made up: no such commune here
            assert turn.identity is not None
            turn.audit(f"user:{turn.identity.id}", "commune.choose", subject=code[:8], outcome="refused")
            return [self._question(turn.language, "commune.unknown")]
        return await self._choose(dialogue, turn, commune, state)

    async def _choose(self, dialogue: Dialogue, turn: Turn, commune: Commune,
                      state: State | None) -> list[Reply]:
        identity = turn.identity
        assert identity is not None
        before = identity.commune
        if before != commune.code:
            await set_commune(turn.session, identity.id, commune.code)
            found = await find_user(turn.session, identity.channel, identity.external_id)
            assert found is not None
            turn.identity = found
        # A flow of the other commune (its products, its procedures) does not carry over, nor does the
        # question it asked last (a typed "2 kg" must not answer it).
        await clear_state(turn.session, identity.id)
        await remember(turn.session, identity.id, ())
        turn.audit(f"user:{identity.id}", "commune.choose", subject=commune.code,
                   detail={"before": before} if before else None)
        chosen = Reply(self.catalogue.t("commune.chosen", turn.language, commune=commune.name))
        original = turn.incoming
        # What they first asked, in their commune now; a shared location is itself the request.
        if original.location is not None and original.button is None:
            replay = original
        else:
            replay = _plain(original, _pending(state) or "/start")
        turn.incoming = replay
        try:
            replies = await dialogue.converse(turn, None, None)
        finally:
            turn.incoming = original
        return [chosen, *replies]

    async def _show(self, dialogue: Dialogue, turn: Turn) -> list[Reply]:
        identity = turn.identity
        assert identity is not None
        current = self.province.get(identity.commune)
        if not self.province.several:
            return [Reply(self.catalogue.t("commune.only", turn.language, commune=self.province.home.name))]
        await save_state(turn.session, identity.id, State(FLOW, {"asked": ""}), dialogue.services.cipher)
        # The commune question is answered here (a name, a number, a tap); what was asked before it, by
        # a flow now closed, is no longer open.
        await remember(turn.session, identity.id, ())
        if current is None:
            return [self._question(turn.language, "commune.ask")]
        return [self._question(turn.language, "commune.current", commune=current.name)]

    def _question(self, language: str, key: str, **params: str) -> Reply:
        buttons = tuple(Button(commune.name, f"{FAMILY}:set:{commune.code}") for commune in self.province)
        return Reply(self.catalogue.t(key, language, **params), buttons)

    @staticmethod
    def _emergency(dialogue: Dialogue, text: str) -> bool:
        services = dialogue.services
        rules = getattr(services.nlu, "rules", None)
        if rules is not None and rules.match(text) is not None:
            return True
        parse = services.nlu.parse(text)
        return parse.intent == EMERGENCY and parse.confidence >= services.settings.nlu_threshold


def _pending(state: State | None) -> str:
    if state is None or state.flow != FLOW:
        return ""
    asked = state.data.get("asked")
    return asked if isinstance(asked, str) else ""


def _plain(incoming: Incoming, text: str) -> Incoming:
    return dataclasses.replace(incoming, text=text, button=None, location=None, contact=None,
                               attachment=None, voice=None)
