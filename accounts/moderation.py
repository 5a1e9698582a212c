"""Staff moderation in the admin: actions that ask why, and the audit trail they leave.

Every moderation act (deactivate and reactivate a user; suspend, unsuspend, register again and
sync a product) goes through a service and is recorded in Django's admin log: who (the staff
member), what and when (the entry), why (the reason, in its message). The change pages of the
user and the product show the trail. The products' admin lives in pricing and uses this too.
"""

from collections.abc import Callable, Iterable

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, Q, QuerySet
from django.template.loader import render_to_string
from django.template.response import TemplateResponse

REASON_MAX_LENGTH = 1000
# The most entries a change page shows; the "History" link lists them all.
TRAIL_LENGTH = 50


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="Recorded in the audit log.",
    )

    def __init__(self, *args, shown_to_owner: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if shown_to_owner:
            self.fields["reason"].help_text = "Shown to the owner, and recorded in the audit log."


def audit(request, objects: Iterable[Model], message: str) -> None:
    """Record a moderation act by the signed-in staff member on each of `objects`."""
    objects = list(objects)
    if objects:
        LogEntry.objects.log_actions(
            user_id=request.user.pk, queryset=objects, action_flag=CHANGE, change_message=message
        )


def action_with_reason(
    modeladmin: admin.ModelAdmin,
    request,
    queryset: QuerySet,
    *,
    title: str,
    confirm: str,
    shown_to_owner: bool,
    apply: Callable[[QuerySet, str], None],
) -> TemplateResponse | None:
    """An admin action that asks for a reason first (as "delete selected" asks to confirm).

    From the change list, it answers with a page asking for the reason; that page posts the
    same action back with the reason, and then `apply(queryset, reason)` runs and the admin
    returns to the change list.
    """
    form = ReasonForm(
        request.POST if "reason" in request.POST else None, shown_to_owner=shown_to_owner
    )
    if form.is_valid():
        apply(queryset, form.cleaned_data["reason"])
        return None
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "confirm": confirm,
        "form": form,
        "objects": queryset,
        "opts": opts,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/moderation-reason.html", context)


def audit_trail(*models_and_ids: tuple[type[Model], Iterable]) -> str:
    """The latest admin-log entries (moderation acts and edits) about the given objects, newest
    first, as an HTML table for a change page's read-only field. Two queries."""
    condition = Q(pk__in=[])
    for model, ids in models_and_ids:
        content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
        condition |= Q(content_type=content_type, object_id__in=[str(pk) for pk in ids])
    entries = (
        LogEntry.objects.filter(condition)
        .select_related("user", "content_type")
        .order_by("-action_time", "-pk")[:TRAIL_LENGTH]
    )
    return render_to_string("admin/_audit-trail.html", {"entries": entries})
