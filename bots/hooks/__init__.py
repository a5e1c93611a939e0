"""Inbound webhooks from systems, not people (outbound ones are bots/onestop_out.py):

- `receiver`: `POST /hooks/{source}`, Standard Webhooks 1.0 signatures, one `HookSource` per system;
- `onestop_in`: the provincial one-stop system's status updates, received as `/hooks/onestop`;
- `stripe_webhook`: `POST /stripe/webhook`, Stripe's events about our PaymentIntents.
"""
