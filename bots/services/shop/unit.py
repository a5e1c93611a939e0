"""The commune's shop: local products, orders, payment (card, VietQR transfer, cash on delivery) and
delivery; sellers follow their orders (/orders, /ship, /paid)."""

from __future__ import annotations

from bots.dashboard import commerce, providers
from bots.dialogue.service import Buttons, Command, DeskButton, MenuEntry, Panel, Role, Service, Task
from bots.services.kit import Kit
from bots.services.shop.desk import FAMILY, FLOW, ShopDesk
from bots.services.shop.holdings import ShopHoldings
from bots.services.shop.seller import FAMILY as SELLER_FAMILY
from bots.services.shop.seller import SellerDesk
from bots.services.shop.stuck import task as stuck_orders_task
from core.db import Database
from core.roles import PUBLIC, only

MENU = (MenuEntry("shop_browse", 70), MenuEntry("order_status", 80))
FIGURES = (Panel(30, providers.payments), Panel(50, commerce.orders))


# The modules defining its tables (migrations/env.py imports them).
TABLES: tuple[str, ...] = ("backends.shop.orders", "backends.payments.ledger", "backends.shop.sellers")


def service(kit: Kit) -> Service:
    if kit.products is None:  # no catalogue: the menu says the shop is not open yet
        # Orders placed while it was open are still the buyers': /mydata exports, cancels and erases them.
        return Service(name="shop", menu=MENU, figures=FIGURES, i18n=("shop.",),
                       holdings=ShopHoldings(None).declared())
    products = kit.products
    desk, seller = ShopDesk(products), SellerDesk(products)

    async def seed(database: Database) -> None:
        from backends.shop.orders import seed_stock

        async with database.session() as session:  # stock rows for new products; never resets what was sold
            await seed_stock(session, products)

    return Service(
        name="shop",
        intents={"shop_browse": desk.window.browse, "shop_order": desk.order,
                 "order_status": desk.orders.status},
        states={FLOW: desk.in_draft},
        commands=(Command("/orders", only("seller"), seller.orders),
                  Command("/ship", only("seller"), seller.ship),
                  Command("/paid", only("seller", "staff"), seller.paid)),  # a transfer or cash received
        # Any other action of the buyer's: the draft goes on, or is gone.
        buttons=(Buttons(FAMILY, PUBLIC, actions={
                     "browse": desk.browse_pressed, "abort": desk.abort_pressed,
                     "mine": desk.orders.my_orders, "cat": desk.category_pressed, "buy": desk.buy_pressed,
                     "pick": desk.pick_pressed, "view": desk.view_pressed, "cancel": desk.cancel_pressed,
                     "qty": desk.quantity_pressed, "saved": desk.saved_pressed, "hamlet": desk.hamlet_pressed,
                     "pay": desk.pay_pressed, "phone": desk.phone_pressed, "confirm": desk.confirm_pressed},
                         handler=desk.resume),
                 Buttons(SELLER_FAMILY, only("seller"), actions={
                     "ship": seller.ship_pressed, "deliver": seller.deliver_pressed,
                     "paid": seller.paid_pressed, "orders": seller.orders}, handler=seller.unknown)),
        menu=MENU,
        figures=FIGURES,
        roles=(Role("seller", invite=seller.invite, joined=seller.joined),),
        desk_buttons=(DeskButton("seller", "help.seller.button.orders", f"{SELLER_FAMILY}:orders"),),
        on_start=(seed,),
        # Orders whose card payment was never started (the process died after their turn): cancelled.
        tasks=(Task("shop-stuck-payments", stuck_orders_task(products)),),
        events={"shop.order": "orders_placed", "shop.payment_confirm": "orders_paid",
                "shop.payment_settled": "orders_paid", "shop.shipped": "orders_shipped",
                "shop.delivered": "orders_delivered", "shop.cancel": "orders_cancelled"},
        i18n=("shop.",),
        holdings=ShopHoldings(products).declared(),
        desk=desk,
    )
