"""The province's dashboard in headless Chromium against the real server (XASO_COMMUNES=LB,SM): the
province's read-only role logs in through the one-time link from chat, compares the communes side by
side, picks one, and draws every commune's hamlet outlines on the map with nothing fetched from outside;
the overview fits a phone. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import async_playwright

from bots.server import ASSISTANT
from core.config import Settings
from tests.support.browser import CHROMIUM_FLAGS, artifact, chromium_path, only_server
from tests.support.communes import PROVINCE
from tests.support.dashboard import COMMUNE_RECORDS, commune_records, login_token, member


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update=PROVINCE)


async def test_the_province_compares_its_communes_picks_one_and_maps_them_all(client: TestClient) -> None:
    base = str(client.make_url("")).rstrip("/")
    await commune_records(client)
    token = await login_token(client, await member(client, "province", commune="LB"))
    communes = client.app[ASSISTANT].communes
    outlined = sum(1 for code in ("LB", "SM") for hamlet in communes[code].services.commune.hamlets
                   if hamlet.polygon)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
            outside = await only_server(context, base)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{base}/dashboard/login?token={token}")
            await page.click("#login")
            await page.wait_for_url(f"{base}/dashboard")

            # Side by side: each commune's row with its own open dossiers, and the province's total.
            assert await page.locator("#place").inner_text() == "Toàn tỉnh"
            for code, held in COMMUNE_RECORDS.items():
                cell = page.locator(f'#commune-{code} td[data-key="dossiers_open"]')
                assert await cell.inner_text() == str(len(held.dossiers))
            total = sum(len(held.dossiers) for held in COMMUNE_RECORDS.values())
            assert await page.locator('#commune-all td[data-key="dossiers_open"]').inner_text() == str(total)
            headings = await page.locator("#province th").all_inner_texts()
            assert all(heading.strip() and "_" not in heading for heading in headings), headings
            await page.screenshot(path=str(artifact("dashboard-province.png")), full_page=True)

            # One commune at a time: Sảng Mộc's records, none of La Bằng's.
            await page.click("a[data-commune='SM']")
            await page.wait_for_url(f"{base}/dashboard?commune=SM")
            assert await page.locator("#place").inner_text() == "Xã Sảng Mộc"
            body = await page.locator("body").inner_text()
            assert all(code in body for code in COMMUNE_RECORDS["SM"].dossiers)
            assert not any(code in body for code in COMMUNE_RECORDS["LB"].codes)
            await page.screenshot(path=str(artifact("dashboard-province-commune.png")), full_page=True)

            # The map of the province: both communes' hamlets, drawn offline.
            await page.goto(f"{base}/dashboard/map")
            await page.locator("#map[data-ready='true']").wait_for()
            await page.locator("path.hamlet").nth(outlined - 1).wait_for()
            assert await page.locator("path.hamlet").count() == outlined
            assert await page.locator("img.leaflet-tile").count() == 0
            # Zoomed out over the province, each commune is named once and the hamlets' names (too
            # small to hold them) are hidden; zoomed in on one commune, its hamlets are named.
            assert sorted(await page.locator(".leaflet-tooltip.commune-name").all_inner_texts()) == [
                "Xã La Bằng", "Xã Sảng Mộc"]
            assert not await page.locator(".leaflet-tooltip.hamlet-name").first.is_visible()
            await page.screenshot(path=str(artifact("dashboard-province-map.png")), full_page=True)
            await page.goto(f"{base}/dashboard/map?commune=SM")
            await page.locator("#map[data-ready='true']").wait_for()
            assert await page.locator(".leaflet-tooltip.commune-name").count() == 0
            assert await page.locator(".leaflet-tooltip.hamlet-name").first.is_visible()
            await page.screenshot(path=str(artifact("dashboard-province-map-commune.png")), full_page=True)

            # On a phone the overview, its table of communes included, fits the screen's width.
            await page.set_viewport_size({"width": 360, "height": 740})
            await page.goto(f"{base}/dashboard")
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, width
            await page.screenshot(path=str(artifact("dashboard-province-phone.png")), full_page=True)
            # The table scrolls sideways to its last column, each commune's name staying in view.
            await page.locator("#province .scroll").evaluate("element => { element.scrollLeft = 10000; }")
            orders = page.locator('#commune-SM td[data-key="orders_open"]')
            assert await orders.is_visible()
            assert await orders.inner_text() == str(len(COMMUNE_RECORDS["SM"].orders))
            name = await page.locator("#commune-SM th").bounding_box()
            assert name is not None and 0 <= name["x"] < 60, name
            table = artifact("dashboard-province-phone-table.png")
            await page.locator("#province").screenshot(path=str(table))
            assert outside == [] and errors == [], (outside, errors)
        finally:
            await browser.close()
