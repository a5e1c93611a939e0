"""`/stats` in chat for staff, and the Prometheus series in `/metrics`: per-service counters, HTTP
latency by route, dialogue latency by channel and intent."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient

from bots.server import ASSISTANT
from bots.services.announcements.scheduler import Scheduler
from bots.services.stats.desk import DOSSIERS_QUEUE, REPORTS_LIST
from core.config import Settings
from core.models import utcnow
from tests.support.announcements import write_until_preview
from tests.support.chat import ChatSession, button_data, texts
from tests.support.reports import KEM, report_by_location
from tests.support.roles import staff_joins
from tests.support.shop import confirm_button, order_until_summary, seller_joins


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


def series(body: str, name: str, **labels: str) -> float:
    """The value of one sample, labels in any order; 0 when absent."""
    for line in body.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_stats_shows_todays_figures_to_staff(client: TestClient) -> None:
    official = await staff_joins(client)
    villager = await ChatSession.open(client)
    await report_by_location(villager, "rác thải đổ bừa bãi cạnh suối", KEM)
    await report_by_location(villager, "mất điện cả xóm từ sáng", KEM)
    await official.press("report-admin:resolve:PA-000002")
    await official.say("Điện lực đã thay cầu chì")
    replies = await official.say("/stats")
    figures = texts(replies)
    assert "Phản ánh đang mở: 1, mới hôm nay: 2, đã xử lý: 1" in figures
    assert "Người dùng hoạt động: 2 (web 2)" in figures
    assert "quá hạn: 0" in figures and "chờ trả lời: 0" in figures
    # Every message so far: the official's /join, button and note; the villager's 4 + 3 (this one is
    # audited once it has been answered).
    assert "Tin nhắn: 10\n" in figures
    assert "report-admin:list" in button_data(replies)
    assert "không có quyền" in texts(await villager.say("/stats"))
    await official.say("/lang en")
    assert "Open reports: 1, new today: 2, resolved: 1" in texts(await official.say("/stats"))


async def test_the_desks_stats_opens_are_declared_by_their_services(client: TestClient) -> None:
    """Stats names the reports' and dossiers' buttons without importing them: they must still exist."""
    buttons = client.app[ASSISTANT].assembly.buttons
    for data in (REPORTS_LIST, DOSSIERS_QUEUE):
        family, action = data.split(":")
        assert action in buttons[family].actions, data


async def test_metrics_expose_service_counters_and_latencies(client: TestClient) -> None:
    official = await staff_joins(client)
    villager, neighbour = await ChatSession.open(client), await ChatSession.open(client)
    await report_by_location(villager, "rác thải đổ bừa bãi cạnh suối", KEM)
    await report_by_location(neighbour, "rác vứt bừa bãi", KEM)
    await official.press("report-admin:assign:PA-000001")
    await official.press("report-admin:resolve:PA-000001")
    await official.say("Đã dọn sạch")
    await villager.press("report:notfixed:PA-000001")
    await villager.say("/reports")  # denied: not counted as a service event

    response = await client.get("/metrics")
    assert response.status == 200
    body = await response.text()
    for event, count in (("opened", 1), ("linked", 1), ("assigned", 1), ("resolved", 1), ("reopened", 1)):
        assert series(body, "xaso_service_events_total", service="reports", event=event) == count, event
    assert series(body, "xaso_service_events_total", service="account", event="roles_joined") == 1
    assert series(body, "xaso_http_requests_total", method="POST", route="/api/chat/messages",
                  status="200") >= 10
    assert series(body, "xaso_http_request_seconds_count", method="POST", route="/api/chat/sessions") == 3
    assert series(body, "xaso_dialogue_seconds_count", channel="web", intent="report_problem") == 2
    assert series(body, "xaso_dialogue_seconds_count", channel="web", intent="state:report") >= 4
    assert series(body, "xaso_dialogue_seconds_count", channel="web", intent="button:report-admin") == 2
    assert series(body, "xaso_dialogue_seconds_count", channel="web", intent="/join") == 1
    assert series(body, "xaso_nlu_intents_total", intent="report_problem") == 2
    # Unknown paths are counted under one label, not one series per address asked for.
    assert (await client.get("/no/such/path")).status == 404
    body = await (await client.get("/metrics")).text()
    assert series(body, "xaso_http_requests_total", route="unmatched", status="404") == 1
    assert "/no/such/path" not in body


async def test_metrics_count_orders_and_announcements(client: TestClient) -> None:
    """Orders placed, paid, shipped, delivered; announcements published now, scheduled, and published
    later by the scheduler (audited outside the pipeline, counted all the same)."""
    seller = await seller_joins(client, "htx_che_la_bang")
    buyer = await ChatSession.open(client)
    placed = await buyer.press(confirm_button(await order_until_summary(buyer, "mua 1 cân chè búp")))
    code = re.search(r"DH-\d{6}", texts(placed)).group(0)  # type: ignore[union-attr]
    assert "Đã ghi nhận thanh toán" in texts(await seller.say(f"/paid {code}"))
    assert "đang giao" in texts(await seller.say(f"/ship {code}"))
    await seller.press(f"seller:deliver:{code}")
    assert "không chuyển được" in texts(await seller.say(f"/ship {code}"))  # refused: not counted

    official = await staff_joins(client)
    await write_until_preview(official)
    assert "Đã ký số và phát hành" in texts(await official.press("announce:confirm"))
    await write_until_preview(official, when="6 giờ 30 sáng mai")
    assert "hẹn phát" in texts(await official.press("announce:confirm"))
    assistant = client.app[ASSISTANT]
    desk = assistant.assembly.desk("announcements")
    assert isinstance(desk, Scheduler) and desk.observe == assistant.metrics.count_audited
    later = utcnow() + dt.timedelta(days=2)
    published = await replace(desk, clock=lambda: later).publish_due(assistant.database, assistant.services)
    assert len(published) == 1

    body = await (await client.get("/metrics")).text()
    for event in ("orders_placed", "orders_paid", "orders_shipped", "orders_delivered"):
        assert series(body, "xaso_service_events_total", service="shop", event=event) == 1, event
    assert series(body, "xaso_service_events_total", service="announcements", event="published") == 2
    assert series(body, "xaso_service_events_total", service="announcements", event="scheduled") == 1
