"""Web pages and feeds that are not a chat (the staff dashboard has its own package, bots/dashboard/):

- `verify`: `GET /verify/{code}`, the public check of a signed result or announcement;
- `pay_page`: `GET /pay/{token}`, the card payment page of one order;
- `loudspeaker_feed`: `GET /loudspeaker/feed`, what a hamlet's loudspeakers play, signed;
- `shop_web`: `GET /shop/photos/{name}`, the catalogue's product photos.
- `pictures`: serving pictures named by data/ (the product photos, `GET /lessons/img/{name}` for lessons).
"""
