# Fixtures of products in a given state (make_product, store_offers, ...) are in the root
# conftest.py, shared with the API's tests.

HTMX = {"HX-Request": "true"}
