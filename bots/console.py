"""The console channel: the same assistant in a terminal (`xaso chat`). Buttons are numbered; typing
the number presses the button. Messages pushed later by the outbox are printed as they arrive."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, TextIO

from bots.channels.base import Handler
from core.messages import Contact, Incoming, Location, Reply
from core.outbox import Outbox

CHANNEL = "console"


def render(reply: Reply, out: TextIO, first_number: int = 1) -> None:
    out.write(f"\n🤖 {reply.text}\n")
    for number, button in enumerate(reply.buttons, start=first_number):
        out.write(f"   [{number}] {button.label}" + (f" → {button.url}" if button.url else "") + "\n")
    for label, url in (("🔊", reply.audio_url), ("🖼", reply.image_url), ("📄", reply.document_url)):
        if url:
            out.write(f"   {label} {url}\n")
    if reply.request_phone:
        out.write("   (gõ /phone SỐ-ĐIỆN-THOẠI để gửi số)\n")
    if reply.request_location:
        out.write("   (gõ /location VĨ-ĐỘ KINH-ĐỘ để gửi vị trí)\n")
    out.flush()


class ConsoleChat:
    """The terminal conversation; it is also the outbox's sender for the console channel, so that the
    buttons of a pushed message are the ones its numbers press."""

    name = CHANNEL
    per_chat_rate = float("inf")
    global_rate = float("inf")

    def __init__(self, handle: Handler, outbox: Outbox, user: str, out: TextIO = sys.stdout) -> None:
        self.handle = handle
        self.outbox = outbox
        self.user = user
        self.out = out
        self.buttons: list[str] = []

    async def send(self, chat_id: str, reply: Reply, key: str) -> None:
        render(reply, self.out)
        self.buttons = [button.data for button in reply.buttons]
        if reply.buttons:
            self.out.write("\n👤 ")
            self.out.flush()

    def to_incoming(self, line: str) -> Incoming:
        common: dict[str, Any] = {"channel": CHANNEL, "chat_id": self.user, "user_id": self.user}
        stripped = line.strip()
        if stripped.isdigit() and 1 <= int(stripped) <= len(self.buttons):
            return Incoming(**common, button=self.buttons[int(stripped) - 1])
        if stripped.startswith("/phone "):
            return Incoming(**common, contact=Contact(stripped.split(maxsplit=1)[1]))
        if stripped.startswith("/location "):
            parts = stripped.split()
            try:
                return Incoming(**common, location=Location(float(parts[1]), float(parts[2])))
            except (IndexError, ValueError):  # not two numbers, or not a place on Earth
                pass
        return Incoming(**common, text=line)

    async def say(self, line: str) -> list[Reply]:
        outcome = await self.handle(self.to_incoming(line))
        self.buttons = [button.data for reply in outcome.replies for button in reply.buttons]
        number = 1
        for reply in outcome.replies:
            render(reply, self.out, number)
            number += len(reply.buttons)
        return list(outcome.replies)

    async def run(self, stdin: TextIO = sys.stdin) -> None:
        stop = asyncio.Event()
        pushed = asyncio.create_task(self.outbox.run(self, stop))
        loop = asyncio.get_running_loop()
        self.out.write("Xã Số — trợ lý xã. Gõ tin nhắn rồi Enter; số để bấm nút; Ctrl-D để thoát.\n")
        await self.say("/start")
        try:
            while True:
                self.out.write("\n👤 ")
                self.out.flush()
                line = await loop.run_in_executor(None, stdin.readline)
                if not line:
                    break
                if line.strip():
                    await self.say(line.rstrip("\n"))
        finally:
            stop.set()
            await pushed
        self.out.write("\nTạm biệt!\n")
