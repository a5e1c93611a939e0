"""The commune's shop: local products, orders, payment (card, VietQR transfer, cash on delivery) and
delivery; sellers follow their orders (/orders, /ship, /paid).

Its declaration is `unit.service(kit)`."""
