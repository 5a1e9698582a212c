"""The client of the external Offers service (DESIGN §4; OpenAPI: offers_simulator/openapi.json).

Two operations — register a product, get a product's offers (or many products' at once,
concurrently: `get_offers_many`) — plus `check()` for people setting up a deployment. What it
guarantees:

- **One access token for every process.** The service refuses a new token (400) while another is
  valid, so the token lives in the single `OffersAccessToken` row with its expiry (counted from
  when the 201 arrived) and is used until it expires or a call answers 401. Only the process that
  wins the `offers-access-token` lease asks for a new one; the others wait for it. The row is
  bound to the base URL and a fingerprint of the refresh token (another service, or a rotated
  refresh token, never uses it); after a refused refresh (400) the lockout is stored and calls
  fail at once until it ends, but for one probe every 30 s. No HTTP call is made inside a
  database transaction, so call these methods outside `transaction.atomic()`.
- **Bounded waits and answers.** Every request has a connect timeout and a read timeout that
  bounds the whole body; `worst_case_seconds()` is the longest an operation can take. At most
  OFFERS_MAX_ANSWER_BYTES of a body are read and OFFERS_MAX_OFFERS offers accepted. Connection
  errors and 502/503/504 are retried with backoff by urllib3's `Retry` on register and offers
  (a repeated register answers 409, which is success); `/auth` and other 4xx are never retried.
- **Typed errors only.** Every failure is an `OffersError` subclass whose message says which URL
  and what to check; no `requests`/urllib3 exception escapes.
- **Validated answers.** Nothing from an answer is used unless it has the documented shape.

The refresh token is never logged; access tokens appear in logs only as a short fingerprint.

The package: `client` (OffersClient and get_offers_client), `tokens` (the shared token and its
lease), `parsing` (validation of answers and error bodies), `stats` (counters) and `errors`.
Import from the package itself; the modules' underscored names are not for use outside it.
"""

from pricing.offers_client.client import (
    OffersAnswer,
    OffersCheckResult,
    OffersClient,
    get_offers_client,
)
from pricing.offers_client.errors import (
    OffersAuthenticationFailed,
    OffersError,
    OffersLockedOut,
    OffersProtocolError,
    OffersRejected,
    OffersUnavailable,
    ProductNotRegistered,
)
from pricing.offers_client.parsing import OfferData, error_detail, parse_offers
from pricing.offers_client.stats import OffersClientStats

__all__ = [
    "OfferData",
    "OffersAnswer",
    "OffersAuthenticationFailed",
    "OffersCheckResult",
    "OffersClient",
    "OffersClientStats",
    "OffersError",
    "OffersLockedOut",
    "OffersProtocolError",
    "OffersRejected",
    "OffersUnavailable",
    "ProductNotRegistered",
    "error_detail",
    "get_offers_client",
    "parse_offers",
]
