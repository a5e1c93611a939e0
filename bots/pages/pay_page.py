"""`GET /pay/{token}`: the card payment page of one order (Vietnamese first, English below).

The token is a signed, expiring link to one PaymentIntent (backends/payments/stripe.py), so the
page cannot be opened for another intent or after the link has expired. It loads Stripe.js from the
configured address, mounts a card field and confirms the intent in the browser; the card number
never reaches this server. A payment our ledger has cancelled (its order was) shows no card field,
even while Stripe could not be told. The order is marked paid by the webhook, not by this page. The
page names the order's commune (a province's installation serves several), found from our ledger.
"""

from __future__ import annotations

import logging
import secrets
from html import escape
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import select

from backends.payments import PaymentError
from backends.payments.ledger import CANCELLED, Payment
from backends.payments.stripe import NAME, IntentView, StripePayments, intent_of_link
from bots.assistant import Assistant
from bots.dialogue.base import Services

log = logging.getLogger(__name__)
LANGUAGES = ("vi", "en")
# Intent states in which the buyer can still (re)try a card.
PAYABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})

_SCRIPT = """
const form = document.getElementById('pay');
const button = form.querySelector('button');
const note = document.getElementById('note');
const stripe = Stripe(form.dataset.key);
const card = stripe.elements().create('card');
card.mount('#card');
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  button.disabled = true;
  note.textContent = form.dataset.processing;
  const result = await stripe.confirmCardPayment(form.dataset.secret, {payment_method: {card: card}});
  if (result.error) {
    note.textContent = (result.error.message || '') + ' ' + form.dataset.failed;
    button.disabled = false;
  } else {
    form.hidden = true;
    note.textContent = form.dataset.paid;
  }
});
"""


def format_vnd(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " ₫"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class PayPage:
    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/pay/{token}", self.page)]

    def _t(self, key: str, **params: str) -> str:
        """The Vietnamese text with the English one below it, both escaped."""
        catalogue = self.assistant.services.catalogue  # one for the installation
        vi, en = (escape(catalogue.t(key, lang, **params)) for lang in LANGUAGES)
        return f'{vi}<br><span class="en">{en}</span>'

    async def page(self, request: web.Request) -> web.Response:
        home = self.assistant.services
        if not isinstance(home.payments.get(NAME), StripePayments):
            return self._message(home, 404, "pay.not_found")
        intent_id = intent_of_link(home.hasher, request.match_info["token"])
        if intent_id is None:
            return self._message(home, 404, "pay.not_found")
        status, commune = await self._ledger(intent_id)
        services = self._services(commune)
        provider = services.payments.get(NAME)
        if not isinstance(provider, StripePayments):
            return self._message(services, 404, "pay.not_found")
        try:
            intent = await provider.intent(intent_id)
        except PaymentError:
            return self._message(services, 200, "pay.unavailable")
        if intent is None:
            return self._message(services, 404, "pay.not_found")
        if intent.status == "succeeded":
            return self._message(services, 200, "pay.paid", intent)
        if intent.status == "processing":
            return self._message(services, 200, "pay.processing", intent)
        # Our ledger cancelled the payment (its order was cancelled) though Stripe may not know yet.
        if intent.status not in PAYABLE or status == CANCELLED:
            return self._message(services, 200, "pay.canceled", intent)
        return self._form(services, provider, intent)

    async def _ledger(self, intent_id: str) -> tuple[str | None, str | None]:
        """The payment's status in our ledger and its order's commune (None, None: not ours)."""
        async with self.assistant.database.session() as session:
            row = (await session.execute(
                select(Payment.status, Payment.commune).where(Payment.reference == intent_id))).first()
        return (row[0], row[1]) if row is not None else (None, None)

    def _services(self, commune: str | None) -> Services:
        """The order's commune's services; the installation's own for a payment we do not know."""
        local = self.assistant.communes.get(commune) if commune else None
        return local.services if local is not None else self.assistant.services

    def _summary(self, intent: IntentView) -> str:
        return (f'<p>{self._t("pay.order", code=intent.order_code)}</p>'
                f'<p class="amount">{escape(format_vnd(intent.amount_vnd))}</p>')

    def _message(self, services: Services, status: int, key: str,
                 intent: IntentView | None = None) -> web.Response:
        body = (self._summary(intent) if intent is not None else "") + f'<p class="status">{self._t(key)}</p>'
        return self._html(services, status, body)

    def _form(self, services: Services, provider: StripePayments, intent: IntentView) -> web.Response:
        catalogue = self.assistant.services.catalogue
        nonce = secrets.token_urlsafe(16)

        def both(key: str) -> str:
            return escape(" / ".join(catalogue.t(key, lang) for lang in LANGUAGES), quote=True)

        body = f"""{self._summary(intent)}
<form id="pay" data-key="{escape(provider.publishable_key, quote=True)}"
 data-secret="{escape(intent.client_secret, quote=True)}" data-processing="{both("pay.processing")}"
 data-paid="{both("pay.paid")}" data-failed="{both("pay.failed")}">
<label for="card">{self._t("pay.card")}</label><div id="card"></div>
<button type="submit">{self._t("pay.button")}</button></form>
<p id="note" role="status"></p><p class="en">{self._t("pay.secure")}</p>
<script src="{escape(provider.js_url, quote=True)}"></script>
<script nonce="{nonce}">{_SCRIPT}</script>"""
        js = _origin(provider.js_url)
        api = _origin(provider.api_base)
        policy = (f"default-src 'none'; script-src 'nonce-{nonce}' {js}; connect-src {api} {js}; "
                  f"frame-src {js} https://hooks.stripe.com; img-src data: {js}; style-src 'unsafe-inline'; "
                  "base-uri 'none'; form-action 'none'")
        return self._html(services, 200, body, policy)

    def _html(self, services: Services, status: int, body: str,
              policy: str = "default-src 'none'; style-src 'unsafe-inline'") -> web.Response:
        catalogue = services.catalogue
        title = escape(catalogue.t("pay.title", "vi"))
        commune = escape(services.commune.name)
        page = f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:sans-serif;max-width:30rem;margin:1rem auto;padding:0 1rem;line-height:1.4}}
.amount{{font-size:1.6rem;font-weight:bold}}.status{{font-size:1.2rem;padding:.6rem;background:#f1f5f9}}
.en{{color:#555;font-size:.9rem}}
#card{{border:1px solid #888;border-radius:.4rem;padding:.7rem;margin:.4rem 0}}
button{{font-size:1.1rem;padding:.6rem 1.2rem;margin-top:.6rem}}</style></head>
<body><h1>{self._t("pay.title")}</h1><p class="en">{commune}</p>
{body}
</body></html>"""
        return web.Response(status=status, text=page, content_type="text/html", charset="utf-8", headers={
            "Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Frame-Options": "DENY"})
