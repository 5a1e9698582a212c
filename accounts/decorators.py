"""Who may reach staff pages: the admin and the health page."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import Http404


def is_staff_member(user) -> bool:
    return user.is_authenticated and user.is_active and user.is_staff


def staff_required(view):
    """Staff only. A visitor who is not signed in goes to the site's login page (rate-limited
    by allauth), and comes back after it; a signed-in user who is not staff gets a 404: the page
    does not exist for them."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_staff_member(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper
