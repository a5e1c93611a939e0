"""Last of the fuzz suite: events are handled off the request path (the inboxes), so whatever handling
them logged shows up after their requests were answered; none of it may be a traceback or an ERROR."""

from __future__ import annotations

import time

from tests.fuzz.conftest import LiveServer


def test_the_server_log_stays_clean_once_the_events_are_handled(live_server: LiveServer) -> None:
    time.sleep(3.0)
    live_server.assert_log_clean("after the fuzz (events handled off the request path)")
    print(f"\nfuzz: {live_server.requests_sent} requests in {time.monotonic() - live_server.started:.0f} s")
