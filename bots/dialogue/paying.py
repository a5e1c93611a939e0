"""Paying for an order of any kind in chat (a shop order, a homestay deposit): what the payer is shown,
and starting a remote provider's payment once the turn has committed.

The words are each service's own, under its prefix: `<prefix>.pay.vietqr`, `.vietqr_short`, `.link`,
`.pending` and the buttons `<prefix>.button.pay_link`, `.button.bank_app`, `<prefix>.copy.account`,
`.copy.amount`, `.copy.note` (who receives the money and who confirms it differ between services).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from backends.payments import (
    PaymentError,
    PaymentProvider,
    PaymentRequest,
    PaymentStart,
    format_vnd,
    ledger,
)
from bots.dialogue.base import Context, FlowHandler
from core.media import media_url, store_media
from core.messages import Button, Reply

log = logging.getLogger(__name__)
Started = Callable[[Context, PaymentStart], Awaitable[list[Reply]]]
NotStarted = Callable[[Context, PaymentError], Awaitable[list[Reply]]]


async def record_start(context: Context, code: str, amount_vnd: int, commune: str,
                       start: PaymentStart) -> None:
    """The started payment in the ledger; settled at once when the provider took it already (a saved card)."""
    await ledger.record(context.session, code, amount_vnd, start, commune)
    if start.status == "succeeded":
        await ledger.settle(context.session, context.services.payments, start.reference,
                            confirmed_by=f"{start.provider}:start")


def start_after_commit(context: Context, provider: PaymentProvider, request: PaymentRequest,
                       started: Started, not_started: NotStarted) -> None:
    """After this turn commits, with no lock held, the provider starts the payment (the same idempotency
    key: a repeat at Stripe is the same intent); then `started` or `not_started` answers the payer in a
    short transaction of its own."""
    async def step() -> FlowHandler:
        try:
            start = await provider.start(request)
        except Exception as problem:  # whatever went wrong, no one was shown a way to pay
            if isinstance(problem, PaymentError):
                failure = problem
            else:
                log.exception("the payment of %s could not be started", request.order_code)
                failure = PaymentError(provider.name, "unavailable", type(problem).__name__)

            async def failed(later: Context) -> list[Reply]:
                return await not_started(later, failure)

            return failed

        async def succeeded(later: Context) -> list[Reply]:
            return await started(later, start)

        return succeeded

    context.after_commit(step)


async def payment_reply(context: Context, prefix: str, code: str, amount_vnd: int, start: PaymentStart,
                        buttons: tuple[Button, ...], view: str) -> Reply | None:
    """How to pay a started payment: a bank transfer's lines with its QR, or a card link (`view` is the
    data its button sends where the channel has no link buttons); None for a provider with nothing to
    show (cash)."""
    total = format_vnd(amount_vnd)
    if start.qr_png is not None:
        media_id = await store_media(context.session, start.qr_png, "image/png", owner_id=context.identity.id)
        url = media_url(context.services.hasher, context.services.settings.public_url, media_id)
        return _transfer(context, prefix, code, total, start, url, buttons, view)
    if start.pay_url is not None:  # a link button where the channel has them, the text elsewhere
        pay = Button(context.t(f"{prefix}.button.pay_link", code=code), view, url=start.pay_url)
        return Reply(context.t(f"{prefix}.pay.link", total=total, url=start.pay_url), (pay, *buttons))
    return None


def _transfer(context: Context, prefix: str, code: str, total: str, start: PaymentStart, qr_url: str,
              buttons: tuple[Button, ...], view: str) -> Reply:
    """A bank transfer in lines a person reads (and hears with «🔊 Nghe») and copies into a banking app on
    the same phone, with the QR for another phone; never the QR's raw payload."""
    transfer = start.transfer
    if transfer is None:
        return Reply(context.t(f"{prefix}.pay.vietqr_short", total=total, code=code), buttons,
                     image_url=qr_url)
    text = context.t(f"{prefix}.pay.vietqr", total=total, code=code, bank=transfer.bank_name,
                     account=transfer.account_number, holder=transfer.account_name,
                     amount=format_vnd(transfer.amount_vnd), note=transfer.note)
    app = (Button(context.t(f"{prefix}.button.bank_app"), view, url=transfer.deeplink),) \
        if transfer.deeplink else ()
    copy = ((context.t(f"{prefix}.copy.account"), transfer.account_number),
            (context.t(f"{prefix}.copy.amount"), str(transfer.amount_vnd)),
            (context.t(f"{prefix}.copy.note"), transfer.note))
    return Reply(text, (*app, *buttons), image_url=qr_url, copy=copy)
