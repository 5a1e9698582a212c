"""A page's state in its URL when its regions are swapped one at a time.

A page with several regions (the product page's chart, MAP violations and long memory; the
overview's "what moved" panel, search and table) keeps what each shows in one query string.
A region swapped alone cannot know what the others were changed to since it was drawn, so its
HTMX links send only their own parameters (`?map=30d`), and the view reads the rest from the
page the request came from (htmx's HX-Current-URL). The answer then tells htmx the page's new
URL (HX-Push-Url), or "false" when the state did not change (polls, refreshes). Links keep a
full `href` for pages without JavaScript, where every click draws the whole page.
"""

from urllib.parse import parse_qsl, urlsplit

from django.http import HttpResponse


def page_params(request) -> tuple[dict[str, str], dict[str, str]]:
    """(the query of the page an HTMX request came from, when it is this path: else empty;
    that query with the request's own parameters over it). A parameter given twice counts
    by its last value, as QueryDict.get reads it."""
    current: dict[str, str] = {}
    url = request.htmx.current_url_abs_path if request.htmx else None
    if url:
        parts = urlsplit(url)
        if parts.path == request.path:
            current = dict(parse_qsl(parts.query, keep_blank_values=True))
    return current, {**current, **dict(request.GET.items())}


def push_url(response: HttpResponse, *, url: str, changed: bool) -> HttpResponse:
    """Tell htmx the URL the page shows after this answer: `url` when the state changed,
    else nothing new (a poll must not add history entries)."""
    response["HX-Push-Url"] = url if changed else "false"
    return response
