"""Headless Chromium (Debian's) driven by Playwright, for the web chat and dashboard tests."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Page, Route, async_playwright

from core.config import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    """The browser to drive; in CI a missing browser is a failure, elsewhere a skip."""
    found = os.environ.get("XASO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("no chromium on this machine: apt-get install chromium")
    return found


async def only_server(context: BrowserContext, base: str) -> list[str]:
    """Lets the browser reach the server at `base` and nothing else (pages must work offline); the list
    fills with every address it tried outside, refused."""
    own = urlsplit(base).netloc
    outside: list[str] = []

    async def guard(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await context.route("**/*", guard)
    return outside


def free_port() -> int:
    """A loopback port for a server whose links in messages must point at itself (public_url)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


@asynccontextmanager
async def live_server(app: web.Application, port: int | None = None) -> AsyncIterator[str]:
    """The app served on loopback (on `port` when links in messages must point at it); its address."""
    server = TestServer(app, host="127.0.0.1", **({"port": port} if port else {}))
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@asynccontextmanager
async def phone_page(url: str) -> AsyncIterator[Page]:
    """The web chat at `url` on a 360×740 phone screen, once its greeting has come."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 360, "height": 740}, locale="vi-VN")
            await page.goto(url)
            await page.locator(".xaso-bubble.xaso-bot").first.wait_for(timeout=15_000)
            yield page
        finally:
            await browser.close()


async def say(page: Page, text: str) -> str:
    """Types `text` as a villager does and returns the newest answer once it has come."""
    before = await page.locator(".xaso-bubble.xaso-bot").count()
    await page.fill("#xaso-input", text)
    await page.click("#xaso-send")
    await page.locator(".xaso-bubble.xaso-bot").nth(before).wait_for(timeout=15_000)
    return await page.locator(".xaso-bubble.xaso-bot").last.inner_text()
