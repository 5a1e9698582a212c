"""The HTML interface."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET


@require_GET
def landing(request):
    if request.user.is_authenticated:
        return redirect("dashboard:overview")
    return render(request, "dashboard/landing.html")


@login_required
@require_GET
def overview(request):
    return render(request, "dashboard/overview.html")
