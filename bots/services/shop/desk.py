"""The shop, buyer's side: browse the catalogue, order in free text or with buttons, pay, follow.

An order is drafted in the conversation state (sealed at rest, like every state): product, amount
(in thousandths of the product's unit), delivery address (a shared location → plus code + hamlet,
or typed text + a hamlet button), phone, payment provider. Confirming writes everything in one
savepoint of the turn's transaction: the stock reservation (a conditional UPDATE, see
backends/shop/orders.py), the code, the order, the payment started by the provider and its ledger
row, and the seller's notice. If any part fails nothing of it stays.

A remote provider (Stripe, `remote = True`) is never called inside the turn, where it would hold the
database's writer lock for its whole HTTP call: the turn reserves the stock and writes the order as
STARTING; once it has committed, the provider starts the payment, and a short transaction of its own
records it and tells the sellers (the order is NEW), or cancels the order, releases the stock and
asks the buyer for another way to pay. Sellers hear only of orders whose payment started. An order
left STARTING (the process died between the two) is cancelled by the shop's task (stuck.py).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backends.addresses.hamlets import Hamlets
from backends.addresses.plus_codes import encode
from backends.addresses.store import save_address, saved_address
from backends.payments import PaymentError, PaymentRequest, PaymentStart, format_vnd, ledger
from backends.shop.amounts import amount_in
from backends.shop.catalogue import (
    MILLI,
    Amount,
    ConversionError,
    Product,
    ShopCatalogue,
    format_milli,
)
from backends.shop.orders import (
    CANCELLED,
    NEW,
    STARTING,
    Delivery,
    Order,
    create_order,
    move,
    next_code,
    order_by_code,
    release,
    reserve,
    stock_of,
    unseal,
)
from bots.dialogue.base import Context
from bots.dialogue.paying import record_start, start_after_commit
from bots.dialogue.steps import flow_button
from bots.services.shop.buyer import BuyerOrders
from bots.services.shop.notify import (
    order_fields,
    payment_label,
    tell_sellers,
    tell_staff_for_seller,
)
from bots.services.shop.window import ShopWindow
from core import answers
from core.messages import Button, Reply
from core.models import User
from core.pipeline import AuditScalar
from core.state import State, load_state
from core.text import fold
from core.validators import normalize_phone
from nlu.engine import EMERGENCY

log = logging.getLogger(__name__)
FLOW = "shop"
FAMILY = "shop"


class _OutOfStock(Exception):
    pass


@dataclass
class Draft:
    product: str
    milli: int | None = None
    address: str | None = None
    code: str | None = None  # plus code of a shared location
    hamlet: str | None = None  # hamlet id; "" = outside the commune; None = not known yet
    phone: str | None = None
    provider: str | None = None
    nonce: str = ""

    @classmethod
    def of(cls, data: dict[str, Any]) -> Draft:
        return cls(**{k: data.get(k) for k in ("product", "milli", "address", "code", "hamlet", "phone",
                                               "provider")}, nonce=str(data.get("nonce") or ""))

    def data(self) -> dict[str, Any]:
        return {"step": "order", **self.__dict__}


def _masked(phone: str) -> str:
    """"0912345678" → "0912 *** 678": enough to recognise one's own number on a shared screen."""
    return f"{phone[:4]} *** {phone[-3:]}" if len(phone) >= 9 else phone


def _gone(context: Context) -> list[Reply]:
    browse = Button(context.t("shop.button.categories"), f"{FAMILY}:browse")
    return [Reply(context.t("shop.draft_gone"), (browse,))]


# A button of the order being drafted, `shop:<action>[:<argument>]`: its step fills in a piece from the
# argument, then the draft goes on (or the step answers itself). Without a draft, the buyer hears it is gone.
_on_draft = flow_button(lambda desk, context: desk._draft(context), _gone,
                        lambda desk, context, draft: desk._advance(context, draft))


class ShopDesk:
    def __init__(self, shop: ShopCatalogue) -> None:
        self.shop = shop
        self.orders = BuyerOrders(shop)
        self.window = ShopWindow(shop)

    # -- ordering from words

    async def order(self, context: Context) -> list[Reply]:
        text = context.incoming.text or ""
        entities = context.parse.entities if context.parse else ()
        amount = amount_in(text, entities)
        products = self.window.named(context, text)
        if not products:
            category = self.shop.category_mentioned(text)
            products = self.shop.in_category(category.id) if category else []
        if amount is not None and products:
            fitting = [p for p in products if self.shop.accepts(p, amount.unit)]
            if not fitting and len(products) == 1:  # said in a unit it is not sold by: asked again
                return await self._start(context, products[0], amount)
            products, amount = (fitting, amount) if fitting else (products, None)
        if not products:
            return [self.window.categories(context, "shop.unknown_product", text=_shorten(text))
                    if _names_something(text) else self.window.categories(context)]
        if len(products) > 1:
            return await self._pick(context, products, amount)
        return await self._start(context, products[0], amount)

    async def _pick(self, context: Context, products: list[Product], amount: Amount | None) -> list[Reply]:
        context.set_state(State(FLOW, {"step": "pick", "amount": _amount_data(amount)}))
        buttons = tuple(Button(f"{p.title(context.lang)} — {format_vnd(p.price)}/"
                               f"{self.shop.unit_name(p.unit, context.lang)}", f"{FAMILY}:pick:{p.id}")
                        for p in products)
        return [Reply(context.t("shop.which_product"),
                      (*buttons, Button(context.t("shop.button.cancel_draft"), f"{FAMILY}:abort",
                                        means="cancel")))]

    async def _start(self, context: Context, product: Product, amount: Amount | None) -> list[Reply]:
        draft = Draft(product=product.id, nonce=secrets.token_hex(8))
        if amount is not None:
            problem = await self._check_amount(context, product, amount)
            if problem is not None:
                context.set_state(State(FLOW, draft.data()))
                return [Reply(problem, self._quantity_buttons(context, product))]
            draft.milli = self.shop.to_milli(product, amount)
        return await self._advance(context, draft)

    def _params(self, context: Context, product: Product) -> dict[str, str]:
        return {"name": product.title(context.lang), "unit": self.shop.unit_name(product.unit, context.lang)}

    def _amount_problem(self, context: Context, product: Product, amount: Amount) -> str | None:
        """What is wrong with the amount for this product, stock aside; None when it is fine."""
        params = self._params(context, product)
        if amount.quantity <= 0:
            return context.t("shop.bad.zero")
        try:
            milli = self.shop.to_milli(product, amount)
        except ConversionError:
            said = self.shop.unit_name(amount.unit or "", context.lang)
            return context.t("shop.bad.unit", said=said, **params)
        most = int(self.shop.shipping.max_per_order * MILLI)
        if milli > most:
            seller = self.shop.sellers[product.seller]
            return context.t("shop.bad.too_much", max=format_milli(most), seller=seller.name,
                             phone=seller.phone, **params)
        if milli <= 0 or milli % product.step_milli:
            return context.t("shop.bad.step", step=format_milli(product.step_milli), **params)
        return None

    async def _check_amount(self, context: Context, product: Product, amount: Amount) -> str | None:
        problem = self._amount_problem(context, product, amount)
        if problem is not None:
            return problem
        stock = await stock_of(context.session, product.id)
        if self.shop.to_milli(product, amount) > stock:
            return self._stock_problem(context, product, stock)
        return None

    def _stock_problem(self, context: Context, product: Product, stock: int) -> str:
        params = self._params(context, product)
        if stock < product.step_milli:
            return context.t("shop.bad.sold_out", **params)
        return context.t("shop.bad.stock", stock=format_milli(stock), **params)

    def _quantity_buttons(self, context: Context, product: Product) -> tuple[Button, ...]:
        unit = self.shop.unit_name(product.unit, context.lang)
        steps = (product.step_milli, 2 * product.step_milli, 5 * product.step_milli) \
            if product.step_milli >= MILLI else (MILLI // 2, MILLI, 2 * MILLI)
        quantities = tuple(Button(context.t("shop.button.qty", amount=format_milli(m), unit=unit),
                                  f"{FAMILY}:qty:{m}") for m in steps)
        return (*quantities, Button(context.t("shop.button.cancel_draft"), f"{FAMILY}:abort", means="cancel"))

    # -- the draft, one missing piece at a time

    async def _advance(self, context: Context, draft: Draft) -> list[Reply]:
        context.set_state(State(FLOW, draft.data()))
        product = self.shop.products[draft.product]
        cancel = Button(context.t("shop.button.cancel_draft"), f"{FAMILY}:abort", means="cancel")
        if draft.milli is None:
            return [Reply(context.t("shop.ask_quantity", name=product.title(context.lang),
                                    price=format_vnd(product.price),
                                    unit=self.shop.unit_name(product.unit, context.lang)),
                          self._quantity_buttons(context, product))]
        if draft.address is None and draft.code is None:
            buttons: tuple[Button, ...] = ()
            saved = await saved_address(context.session, context.services.cipher, context.identity.id)
            if saved is not None:
                buttons = (Button(context.t("shop.button.saved_address", code=saved.code,
                                            hamlet=self._hamlet_name(context, saved.hamlet_id)),
                                  f"{FAMILY}:saved"),)
            return [Reply(context.t("shop.ask_address"), (*buttons, cancel), request_location=True)]
        if draft.hamlet is None:
            hamlets = Hamlets.from_commune(context.services.commune)
            buttons = tuple(Button(h.name, f"{FAMILY}:hamlet:{h.id}") for h in hamlets)
            return [Reply(context.t("shop.ask_hamlet"),
                          (*buttons, Button(context.t("shop.button.outside"), f"{FAMILY}:hamlet:-"), cancel))]
        if draft.phone is None:
            phone = await self._phone_on_file(context)
            last = (Button(context.t("shop.button.last_phone", phone=_masked(phone)), f"{FAMILY}:phone",
                           means="yes", synonyms=(phone,)),) if phone else ()
            return [Reply(context.t("shop.ask_phone_again" if phone else "shop.ask_phone"), (*last, cancel),
                          request_phone=True)]
        names = context.services.payments.names()
        if draft.provider not in names:
            draft.provider = None
            context.set_state(State(FLOW, draft.data()))
            buttons = tuple(Button(payment_label(context.services, name, context.lang),
                                   f"{FAMILY}:pay:{name}") for name in names)
            return [Reply(context.t("shop.ask_payment"), (*buttons, cancel))]
        return [self._summary(context, draft, product)]

    def _summary(self, context: Context, draft: Draft, product: Product) -> Reply:
        assert draft.milli is not None and draft.provider is not None
        subtotal, shipping = self._prices(draft, product)
        return Reply(context.t(
            "shop.summary", name=product.title(context.lang), quantity=format_milli(draft.milli),
            unit=self.shop.unit_name(product.unit, context.lang), price=format_vnd(product.price),
            subtotal=format_vnd(subtotal),
            shipping=format_vnd(shipping) if shipping else context.t("shop.free"),
            total=format_vnd(subtotal + shipping), address=self._address_text(context, draft),
            phone=draft.phone or "—", payment=payment_label(context.services, draft.provider, context.lang),
        ), (Button(context.t("shop.button.confirm"), f"{FAMILY}:confirm:{draft.nonce}", means="yes"),
            Button(context.t("shop.button.cancel_draft"), f"{FAMILY}:abort", means="no")))

    def _prices(self, draft: Draft, product: Product) -> tuple[int, int]:
        assert draft.milli is not None
        subtotal = self.shop.price_of(product, draft.milli)
        return subtotal, self.shop.shipping.fee(subtotal, in_commune=bool(draft.hamlet))

    def _hamlet_name(self, context: Context, hamlet_id: str | None) -> str:
        hamlet = Hamlets.from_commune(context.services.commune).get(hamlet_id or "")
        return hamlet.name if hamlet else context.t("shop.outside_commune")

    def _address_text(self, context: Context, draft: Draft) -> str:
        parts = [p for p in (draft.address, draft.code) if p]
        return f"{', '.join(parts)} · {self._hamlet_name(context, draft.hamlet)}"

    async def _phone_on_file(self, context: Context) -> str | None:
        """The number this buyer gave last: their account's (shared on the platform), else their latest
        order's; offered as a button instead of asked again."""
        user = await context.session.get(User, context.identity.id)
        if user is not None and user.phone_enc:
            return context.services.cipher.decrypt(user.phone_enc, "users.phone")
        latest = (await context.session.execute(
            select(Order).where(Order.user_id == context.identity.id, Order.phone_enc.is_not(None))
            .order_by(Order.id.desc()).limit(1))).scalar_one_or_none()
        return unseal(context.services.cipher, latest, "phone") if latest is not None else None

    # -- the draft's state: typed answers, shared location or contact

    async def in_draft(self, context: Context) -> list[Reply] | None:
        assert context.state is not None
        incoming = context.incoming
        press = context.press
        if press is not None:
            if press.family != FAMILY:
                context.set_state(None)  # another service's button: the draft is left behind
            return None  # the shop's buttons read the state themselves
        data = context.state.data
        text = (incoming.text or "").strip()
        if text.startswith("/"):
            return None
        ordering = data.get("step") == "order"
        if text and answers.is_cancel(text, strict=ordering and _at_address(Draft.of(data))):
            return self._abort(context)  # at the address, only a stop word alone: it is free text
        if text and ordering and answers.is_back(text):
            return await self._back(context, Draft.of(data))
        if text and context.understand(text).intent == EMERGENCY:
            context.set_state(None)
            return None  # never an address: the emergency answer (115 first) takes it
        if data.get("step") == "pick":
            context.set_state(None)
            return None  # words instead of a choice: route them afresh
        draft = Draft.of(data)
        product = self.shop.products.get(draft.product)
        if product is None:
            context.set_state(None)
            return [Reply(context.t("shop.draft_gone"))]
        if draft.milli is None:
            return await self._typed_amount(context, draft, product, text)
        if draft.address is None and draft.code is None:
            return await self._address(context, draft, text)
        if draft.hamlet is None:
            return await self._typed_hamlet(context, draft, text)
        if draft.phone is None:
            return await self._phone(context, draft, text)
        return [Reply(context.t("shop.use_buttons"))] + await self._advance(context, draft)

    async def _typed_amount(self, context: Context, draft: Draft, product: Product, text: str) -> list[Reply]:
        amount = amount_in(text, context.understand(text).entities, bare=True) if text else None
        if amount is None:
            return [Reply(context.t("shop.bad.quantity"), self._quantity_buttons(context, product))]
        problem = await self._check_amount(context, product, amount)
        if problem is not None:
            return [Reply(problem, self._quantity_buttons(context, product))]
        draft.milli = self.shop.to_milli(product, amount)
        return await self._advance(context, draft)

    async def _address(self, context: Context, draft: Draft, text: str) -> list[Reply]:
        location = context.incoming.location
        if location is not None:
            hamlet = Hamlets.from_commune(context.services.commune).locate(location.lat, location.lon)
            draft.code, draft.hamlet = encode(location.lat, location.lon), hamlet.id if hamlet else ""
            await save_address(context.session, context.services.cipher, context.identity.id, draft.code,
                               hamlet.id if hamlet else None)
            return await self._advance(context, draft)
        if len(text) < 5:
            return [Reply(context.t("shop.bad.address"), request_location=True)]
        draft.address = text[:300]
        hamlets = Hamlets.from_commune(context.services.commune)
        words = " " + " ".join(_PUNCTUATION.sub(" ", fold(text)).split()) + " "
        named = [h for h in hamlets if f" {_short_hamlet(h.name)} " in words]
        draft.hamlet = named[0].id if len(named) == 1 else None
        return await self._advance(context, draft)

    async def _typed_hamlet(self, context: Context, draft: Draft, text: str) -> list[Reply]:
        folded = fold(text)
        named = [h for h in Hamlets.from_commune(context.services.commune) if fold(h.name) in f"xom {folded}"
                 or fold(h.name) == folded]
        if len(named) == 1:
            draft.hamlet = named[0].id
        return await self._advance(context, draft)

    async def _phone(self, context: Context, draft: Draft, text: str) -> list[Reply]:
        shared = context.incoming.contact
        phone = normalize_phone(shared.phone if shared is not None else text)
        if phone is None:
            return [Reply(context.t("shop.bad.phone"), request_phone=True)]
        draft.phone = phone
        return await self._advance(context, draft)

    async def _back(self, context: Context, draft: Draft) -> list[Reply]:
        """One step back: the piece answered last (payment, phone, where, amount) is asked again."""
        if draft.milli is None:
            return [Reply(context.t("form.at_first")), *await self._advance(context, draft)]
        if _at_address(draft):
            draft.milli = None
        elif draft.hamlet is None or draft.phone is None:
            draft.address = draft.code = draft.hamlet = None  # where: the address and its hamlet
        elif draft.provider not in context.services.payments.names():
            draft.phone = None
        else:
            draft.provider = None
        return await self._advance(context, draft)

    def _abort(self, context: Context) -> list[Reply]:
        context.set_state(None)
        return [self.window.categories(context, "shop.draft_cancelled")]

    # -- the shop's buttons, `shop:<action>[:<argument>]` (bots/services/shop/unit.py)

    async def browse_pressed(self, context: Context) -> list[Reply]:
        return [self.window.categories(context)]

    async def abort_pressed(self, context: Context) -> list[Reply]:
        return self._abort(context)

    async def category_pressed(self, context: Context) -> list[Reply]:
        category = context.pressed.arg
        if category not in self.shop.categories:
            return await self.resume(context)
        return await self.window.cards(context, self.shop.in_category(category))

    async def buy_pressed(self, context: Context) -> list[Reply]:
        product = self.shop.products.get(context.pressed.arg)
        return await (self._start(context, product, None) if product is not None else self.resume(context))

    async def pick_pressed(self, context: Context) -> list[Reply]:
        """One of the products the words named: the amount said with them, if any, goes with it."""
        product = self.shop.products.get(context.pressed.arg)
        if product is None:
            return await self.resume(context)
        state = context.state
        amount = _amount_of(state.data.get("amount")) if state is not None and state.flow == FLOW else None
        return await self._start(context, product, amount)

    async def view_pressed(self, context: Context) -> list[Reply]:
        return await self.orders.show(context, context.pressed.arg)

    async def cancel_pressed(self, context: Context) -> list[Reply]:
        return await self.orders.cancel_order(context, context.pressed.arg)

    def _draft(self, context: Context) -> Draft | None:
        state = context.state
        if state is None or state.flow != FLOW or state.data.get("step") != "order":
            return None
        draft = Draft.of(state.data)
        return draft if draft.product in self.shop.products else None

    # -- the draft's buttons: each fills in a piece, then the draft goes on

    @_on_draft
    async def resume(self, context: Context, draft: Draft, arg: str) -> list[Reply] | None:
        """Any other press: the draft's next question again (or, without a draft, that it is gone)."""
        return None

    @_on_draft
    async def quantity_pressed(self, context: Context, draft: Draft, arg: str) -> list[Reply] | None:
        if not arg.isdigit():
            return None
        product = self.shop.products[draft.product]
        problem = await self._check_amount(context, product, Amount(Decimal(int(arg)) / MILLI, product.unit))
        if problem is not None:
            return [Reply(problem, self._quantity_buttons(context, product))]
        draft.milli = int(arg)
        return None

    @_on_draft
    async def saved_pressed(self, context: Context, draft: Draft, arg: str) -> list[Reply] | None:
        saved = await saved_address(context.session, context.services.cipher, context.identity.id)
        if saved is not None:
            draft.code, draft.hamlet = saved.code, saved.hamlet_id or ""
        return None

    @_on_draft
    async def hamlet_pressed(self, context: Context, draft: Draft, arg: str) -> list[Reply] | None:
        """A hamlet of the commune, or `-`: outside it."""
        if arg == "-" or Hamlets.from_commune(context.services.commune).get(arg) is not None:
            draft.hamlet = "" if arg == "-" else arg
        return None

    @_on_draft
    async def pay_pressed(self, context: Context, draft: Draft, arg: str) -> list[Reply] | None:
        if arg in context.services.payments.names():
            draft.provider = arg
        return None

    @_on_draft
    async def phone_pressed(self, context: Context, draft: Draft, arg: str) -> list[Reply] | None:
        """«The number I gave last time»."""
        if draft.phone is None:
            draft.phone = await self._phone_on_file(context)
        return None

    @_on_draft
    async def confirm_pressed(self, context: Context, draft: Draft, arg: str) -> list[Reply] | None:
        return await self.confirm(context, draft, arg)

    # -- placing the order

    async def confirm(self, context: Context, draft: Draft, nonce: str) -> list[Reply]:
        """Places the order. With a local provider (cash, VietQR) all of it in one savepoint of the turn.
        With a remote one (Stripe) the turn reserves the stock and writes the order as STARTING; the
        provider is called once the turn has committed, outside the writer lock, and a short transaction
        then records the payment and tells the sellers, or cancels the order and asks again how to pay."""
        product = self.shop.products[draft.product]
        provider = context.services.payments.get(draft.provider or "")
        complete = draft.milli and (draft.address or draft.code) and draft.hamlet is not None and draft.phone
        if nonce != draft.nonce or provider is None or not complete:
            return await self._advance(context, draft)
        assert draft.milli is not None
        request_key = f"{context.identity.id}:{draft.nonce}"
        subtotal, shipping = self._prices(draft, product)
        remote = bool(getattr(provider, "remote", True))  # one that does not say may be slow
        session = context.session
        start: PaymentStart | None = None
        try:
            async with session.begin_nested():
                if not await reserve(session, product.id, draft.milli):
                    raise _OutOfStock
                code = await next_code(session)
                order = await create_order(
                    session, context.services.cipher, code=code, request_key=request_key,
                    user_id=context.identity.id, product_id=product.id, seller_id=product.seller,
                    quantity_milli=draft.milli, unit=product.unit, unit_price=product.price,
                    subtotal=subtotal, shipping=shipping, provider=provider.name,
                    delivery=Delivery(draft.address or "", draft.code, draft.hamlet or None, draft.phone),
                    status=STARTING if remote else NEW, commune=context.services.commune.code)
                request = PaymentRequest(
                    order_code=code, amount_vnd=order.total_vnd,
                    description=f"{code} {product.title('vi')} {format_milli(draft.milli)} {product.unit}",
                    # The draft's key too: a rolled-back turn gives its code to the next order, whose
                    # payment must not collide at Stripe with the one started for this draft.
                    idempotency_key=f"order:{code}:{request_key}")
                if not remote:
                    start = await provider.start(request)
                    await record_start(context, order.code, order.total_vnd, order.commune, start)
        except _OutOfStock:
            draft.milli = None
            context.set_state(State(FLOW, draft.data()))
            problem = self._stock_problem(context, product, await stock_of(session, product.id))
            context.audit("shop.order", outcome="out_of_stock", detail={"product": product.id})
            return [Reply(problem, self._quantity_buttons(context, product))]
        except PaymentError as failure:
            draft.provider = None
            context.audit("shop.order", outcome="payment_unavailable", detail={"provider": failure.provider})
            return [Reply(context.t("shop.pay.unavailable"))] + await self._advance(context, draft)
        except IntegrityError:  # the same summary confirmed twice at once: the first one won
            context.set_state(None)
            return [Reply(context.t("shop.already_placed", code="—"))]
        context.set_state(None)
        detail: dict[str, AuditScalar] = {"product": product.id, "milli": draft.milli,
                                          "provider": provider.name}
        if start is None:  # the answer comes once the provider has answered, after this turn's commit
            context.audit("shop.order", subject=f"order:{order.code}", outcome="payment_starting",
                          detail=detail)
            start_after_commit(context, provider, request,
                               lambda later, start: self._started(later, request.order_code, start),
                               lambda later, failure: self._not_started(later, request.order_code, draft,
                                                                        failure))
            return []
        context.audit("shop.order", subject=f"order:{order.code}", detail=detail)
        return await self._placed(context, order, start)

    async def _started(self, context: Context, code: str, start: PaymentStart) -> list[Reply]:
        """The payment is started: recorded, the order is NEW, the sellers are told, the buyer pays."""
        session = context.session
        order = await order_by_code(session, code, context.services.commune.code)
        if order is None:
            return []
        if not await move(session, order, (STARTING,), NEW):
            # Cancelled meanwhile (its buyer erased their data, or the shop's task gave up on it): the
            # payment is recorded cancelled, so that its page takes no money; the buyer was told.
            await ledger.record(session, code, order.total_vnd, start, order.commune)
            await ledger.cancel_pending(session, code)
            if start.status == "succeeded":
                log.error("payment %s of the cancelled order %s was taken at once: refund it",
                          start.reference, code)
            context.audit("shop.order", subject=f"order:{code}", outcome="cancelled_while_starting")
            return []
        await record_start(context, order.code, order.total_vnd, order.commune, start)
        context.audit("shop.order", subject=f"order:{order.code}",
                      detail={"product": order.product_id, "milli": order.quantity_milli,
                              "provider": order.payment_provider})
        return await self._placed(context, order, start)

    async def _not_started(self, context: Context, code: str, draft: Draft,
                           failure: PaymentError) -> list[Reply]:
        """The provider could not start the payment: the order is cancelled, its stock released, and
        the buyer chooses another way to pay, at the draft's payment step again (a new summary)."""
        session = context.session
        order = await order_by_code(session, code, context.services.commune.code)
        if order is None or not await move(session, order, (STARTING,), CANCELLED):
            return []  # cancelled meanwhile: whoever did told the buyer
        await release(session, order.product_id, order.quantity_milli)
        context.audit("shop.order", subject=f"order:{code}", outcome="payment_unavailable",
                      detail={"provider": failure.provider, "reason": failure.reason})
        unavailable = Reply(context.t("shop.pay.unavailable"))
        if await load_state(session, context.identity.id, context.services.cipher) is not None:
            return [unavailable]  # they have moved on meanwhile: what they do now stays
        draft.provider, draft.nonce = None, secrets.token_hex(8)  # the old summary made the order
        return [unavailable, *await self._advance(context, draft)]

    async def _placed(self, context: Context, order: Order, start: PaymentStart) -> list[Reply]:
        """The order stands: its sellers (or the commune's staff) are told, the buyer how to pay."""
        session = context.session
        told = await tell_sellers(context.services, session, self.shop, order, f"shop-new:{order.code}",
                                  "shop.notify.new_order", delivery=True, with_buttons=True)
        fields = order_fields(context.services, self.shop, order, context.lang)
        paying = await self.orders.payment_reply(context, order, start)
        if told:
            return [Reply(context.t("shop.placed", **fields)), paying]
        # The seller is not on xaso: the commune's staff pass the order on, and the buyer hears the truth.
        relayed = await tell_staff_for_seller(context.services, session, self.shop, order,
                                              f"shop-new:{order.code}")
        context.audit("shop.order_relayed", subject=f"order:{order.code}", detail={"staff": relayed})
        seller = self.shop.sellers.get(order.seller_id)
        key = "shop.placed_via_staff" if relayed else "shop.placed_call_seller"
        return [Reply(context.t(key, seller_phone=seller.phone if seller else "", **fields)), paying]


_PUNCTUATION = re.compile(r"[^\w\s]")


def _at_address(draft: Draft) -> bool:
    """The draft asks where to deliver: the answer is free text."""
    return draft.milli is not None and draft.address is None and draft.code is None


def _short_hamlet(name: str) -> str:
    """ "Xóm Kèm" → "kem": what villagers type for their hamlet."""
    folded = fold(name)
    return folded.removeprefix("xom ").removeprefix("thon ")


def _amount_data(amount: Amount | None) -> list[str] | None:
    return None if amount is None else [str(amount.quantity), amount.unit or ""]


def _amount_of(data: Any) -> Amount | None:
    if not isinstance(data, list) or len(data) != 2:
        return None
    try:
        return Amount(Decimal(str(data[0])), str(data[1]) or None)
    except InvalidOperation:
        return None


def _shorten(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _names_something(text: str) -> bool:
    """More than the verb: "mua xoài" names something, "mua" or "tôi muốn mua hàng" does not."""
    return any(word not in _VERBS for word in fold(text).split())


_VERBS = frozenset({"toi", "muon", "mua", "dat", "lay", "cho", "hang", "minh", "em", "can", "i", "want", "to",
                    "buy", "order"})




__all__ = ["FAMILY", "FLOW", "ShopDesk"]
