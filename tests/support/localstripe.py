"""localstripe (PyPI; a stateful fake of Stripe's API) for the payment tests.

`XASO_TEST_STRIPE_URL` points at one already running (CI starts it before the tests); otherwise the
session starts `localstripe --port <free port> --from-scratch` itself, waits until it answers, and
stops it at the end. Webhooks are registered per test to the test server's `/stripe/webhook`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

STARTUP_SECONDS = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/js.stripe.com/v3/", timeout=1) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _command() -> list[str]:
    installed = Path(sys.executable).with_name("localstripe")
    found = str(installed) if installed.exists() else shutil.which("localstripe")
    if found is None:
        pytest.fail("localstripe is not installed: pip install -e '.[test]'")
    return [found]


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("XASO_TEST_STRIPE_URL")
    if given:
        url = given.rstrip("/")
        if not _ready(url):
            pytest.fail(f"XASO_TEST_STRIPE_URL={given} does not answer")
        yield url
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    with log.open("wb") as output:
        process = subprocess.Popen([*_command(), "--port", str(port), "--from-scratch"],
                                   stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _ready(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"localstripe did not start: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def register_webhook(localstripe_url: str, url: str, secret: str, webhook_id: str = "xaso") -> None:
    """Have localstripe sign its events with `secret` and POST them to `url` (replacing `webhook_id`)."""
    address = f"{localstripe_url}/_config/webhooks/{webhook_id}"
    async with aiohttp.ClientSession() as session, \
            session.post(address, data={"url": url, "secret": secret}) as answer:
        assert answer.status == 200, await answer.text()
