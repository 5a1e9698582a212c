"""A local, faithful implementation of the external Offers service (standard library only).

Run it with ``python -m offers_simulator`` (see ``--help``). It speaks the contract in
``offers_simulator/openapi.json``: ``/api/v1/auth``, ``/api/v1/products/register`` and
``/api/v1/products/{id}/offers``, plus a small ``/_control/`` endpoint that tests use to inject
faults (latency, 5xx, hangs, malformed bodies, the service down, forgotten registrations, expired
tokens), to read the served log of offers answers and each product's market figures (its
typical MAP, price wars, MAP dips; see ``world``). The control endpoint answers only requests
whose ``Host`` is a loopback address, and POSTs only as ``application/json``, so web pages in a
browser cannot drive it. ``offers_simulator.testing`` starts it as a subprocess for tests.

This package must not import anything from the Django project.
"""
