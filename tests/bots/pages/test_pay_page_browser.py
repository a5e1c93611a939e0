"""The payment page in headless Chromium with localstripe's fake Stripe.js: the page loads the script
from the configured address under its own CSP, mounts the card field, and `confirmCardPayment`
completes a card that needs 3-D Secure; localstripe's webhook then settles the order once."""

from __future__ import annotations

from urllib.parse import urlsplit

import stripe
from playwright.async_api import async_playwright

from tests.support.browser import CHROMIUM_FLAGS, artifact, chromium_path
from tests.support.localstripe import localstripe_url
from tests.support.stripe_payments import Shop, buyer, shop, stripe_settings

__all__ = ["buyer", "localstripe_url", "shop", "stripe_settings"]  # fixtures, used by name
THREE_D_SECURE_CARD = "4000002760003184"


async def test_a_buyer_pays_on_the_page_with_3d_secure(shop: Shop, buyer: stripe.StripeClient) -> None:
    executable = chromium_path()
    start = await shop.order("DH-000201", 120_000)
    assert start.pay_url is not None
    # The card the buyer typed needs 3-D Secure: the intent waits for the buyer's action on the page.
    method = await buyer.v1.payment_methods.create_async({"type": "card", "card": {
        "number": THREE_D_SECURE_CARD, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    await buyer.v1.payment_intents.update_async(start.reference, {"payment_method": method.id})
    intent = await buyer.v1.payment_intents.confirm_async(start.reference)
    assert intent.status == "requires_action"

    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 360, "height": 740}, locale="vi-VN")
            page.on("console", lambda note: errors.append(note.text) if note.type == "error" else None)
            await page.goto(str(shop.client.make_url(urlsplit(start.pay_url).path)))
            assert "120.000 ₫" in await page.inner_text("body")
            await page.locator("#card input[placeholder='number']").wait_for(timeout=15_000)
            await page.fill("#card input[placeholder='number']", THREE_D_SECURE_CARD)
            await page.click("#pay button[type=submit]")
            await page.get_by_role("button", name="Complete authentication").click(timeout=15_000)
            # A locator, not wait_for_function: the page's CSP forbids evaluating strings, rightly.
            await page.locator("#note", has_text="Đã thanh toán").wait_for(timeout=15_000)
            await page.screenshot(path=str(artifact("pay-page-paid.png")), full_page=True)
        finally:
            await browser.close()
    await shop.settled("DH-000201")
    (paid,) = shop.paid
    assert paid.reference == start.reference and paid.amount_vnd == 120_000
    assert not [error for error in errors if "Content Security Policy" in error], errors
    assert await shop.status_of("DH-000201") == [(start.reference, "succeeded", paid.confirmed_by)]
