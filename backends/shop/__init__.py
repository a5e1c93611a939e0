"""The commune shop: catalogue, orders, payments."""
