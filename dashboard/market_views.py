"""Market pages: MAP violations (the offers of the user's whole catalogue advertised below
their product's minimum advertised price over the last 24 h, 7 or 30 days, in the URL), and a
product's long memory as a page of its own.

As in dashboard.views: one render at the end, the list alone for an HTMX swap, a plain page
without JavaScript. The figures are pricing.selectors.map_violations', scoped to the owner.
"""

import uuid
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from dashboard.market import MarketWindow, ProductPageQuery
from dashboard.views import is_partial
from pricing.selectors import map_violations, price_memory
from products.models import Product

DEFAULT_WINDOW = MarketWindow.WEEK


@login_required
@require_GET
@vary_on_headers("HX-Request")
def map_page(request):
    """`period` (24h, 7d, 30d) and, optionally, `product`: one of the user's products (the
    product page's card links here without JavaScript). Unknown values are ignored."""
    window = MarketWindow.from_param(request.GET.get("period"), DEFAULT_WINDOW)
    product = _product_param(request)
    start, end = window.bounds(now=timezone.now())
    violations = map_violations(
        owner=request.user, start=start, end=end, product_id=product.pk if product else None
    )
    # The empty state says whether a MAP is set (a query only when nothing is listed).
    has_map = bool(violations) or (
        product.map_price is not None
        if product
        else Product.objects.for_owner(request.user).filter(map_price__isnull=False).exists()
    )
    context = {
        "window": window,
        "product": product,
        "windows": [
            {
                "label": choice.label,
                "words": choice.words,
                "url": _map_url(window=choice, product=product),
                "active": choice is window,
            }
            for choice in MarketWindow
        ],
        "violations": violations,
        "products_below": len({violation.product_id for violation in violations}),
        "has_map": has_map,
    }
    template = "dashboard/map.html" + ("#map-list" if is_partial(request) else "")
    return render(request, template, context)


def _map_url(*, window: MarketWindow, product: Product | None) -> str:
    params = {"product": product.pk if product else None}
    params["period"] = None if window is DEFAULT_WINDOW else window
    query = urlencode({key: str(value) for key, value in params.items() if value is not None})
    return f"?{query}" if query else ""


def _product_param(request) -> Product | None:
    """The user's product named by `product`; None when there is none, it is not a UUID, or
    it is someone else's (their products exist for nobody else)."""
    try:
        product_id = uuid.UUID(request.GET.get("product", ""))
    except ValueError:
        return None
    return Product.objects.for_owner(request.user).filter(pk=product_id).first()


@login_required
@require_GET
@vary_on_headers("HX-Request")
def product_memory(request, product_id):
    """The product page's "Long memory" card as a page of its own: where the product page's
    link leads without JavaScript (the page loads the card after it is up). The window is
    `memory` in the URL, as on the product page; an HTMX request gets the card alone."""
    product = get_object_or_404(Product.objects.for_owner(request.user), pk=product_id)
    query = ProductPageQuery.from_params(request.GET)
    context = {
        "product": product,
        "query": query,
        "standalone": True,
        "memory": price_memory(product=product, window=query.memory_window, now=timezone.now()),
    }
    if is_partial(request):
        return render(request, "dashboard/product.html#price-memory", context)
    return render(request, "dashboard/product-memory.html", context)
