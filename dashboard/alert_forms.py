"""The alert forms of the HTML interface: a rule (its kind, the parameters that kind takes, its
noise controls) and the user's alert settings.

The forms only read the input (numbers, choices); pricing validates it once for pages and API
alike (rule_spec_clean, alert_settings_update) and its ValidationError lands on the field it
names. A rule's form has a field for every parameter of every kind: the page shows only those
of the chosen kind (static/js/alerts.js), and without JavaScript shows them all, so the form
ignores what the kind does not take, as rule_spec_clean does.
"""

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from pricing.selectors import (
    EVENT_KINDS,
    LOOKBACK_DAYS,
    MOVE_FIGURES,
    WINDOWS,
    AlertDirection,
    AlertEmailMode,
    AlertFigure,
    AlertKind,
)

# The kind menu, grouped as people look for them.
KIND_GROUPS = (
    (
        "Price",
        (
            AlertKind.PRICE_BELOW,
            AlertKind.PRICE_ABOVE,
            AlertKind.PRICE_MOVE,
            AlertKind.NEW_LOW,
            AlertKind.NEW_HIGH,
        ),
    ),
    ("Stock", (AlertKind.OUT_OF_STOCK, AlertKind.BACK_IN_STOCK, AlertKind.STOCK_BELOW)),
    (
        "Offers",
        (
            AlertKind.CHEAPEST_CHANGED,
            AlertKind.OFFER_APPEARED,
            AlertKind.OFFER_VANISHED,
            AlertKind.OFFER_OUT_OF_STOCK,
            AlertKind.OFFER_BACK_IN_STOCK,
        ),
    ),
)
PRICE_LEVEL_KINDS = (AlertKind.PRICE_BELOW, AlertKind.PRICE_ABOVE)
LOOKBACK_KINDS = (AlertKind.NEW_LOW, AlertKind.NEW_HIGH)
STATE_KINDS = tuple(kind for kind in AlertKind if kind not in EVENT_KINDS)

# The parameter groups (a fieldset each) with the kinds that take them; the noise controls'
# cooldown and "enabled" belong to every kind.
PARAMETER_GROUPS = {
    "price_level": (PRICE_LEVEL_KINDS, ("figure", "price_threshold", "min_stock")),
    "price_move": (
        (AlertKind.PRICE_MOVE,),
        ("move_figure", "direction", "change_size", "change_unit", "window"),
    ),
    "stock_level": ((AlertKind.STOCK_BELOW,), ("stock_threshold",)),
    "lookback": (LOOKBACK_KINDS, ("lookback_days",)),
    "debounce": (STATE_KINDS, ("debounce",)),
}
ALWAYS = ("kind", "cooldown_minutes", "is_enabled")
WINDOW_LABELS = {"1h": "1 hour", "24h": "24 hours", "7d": "7 days"}

NEW_RULE_INITIAL = {
    "kind": AlertKind.PRICE_BELOW,
    "figure": AlertFigure.CHEAPEST,
    "move_figure": AlertFigure.CHEAPEST,
    "direction": AlertDirection.DOWN,
    "change_unit": "percent",
    "window": "24h",
    "lookback_days": 30,
    "debounce": 1,
    "cooldown_minutes": 0,
    "is_enabled": True,
}


def fields_taken(kind: str, figure: str | None) -> set[str]:
    """The form fields a rule of `kind` reads (min_stock only with that figure)."""
    taken = set(ALWAYS)
    for kinds, names in PARAMETER_GROUPS.values():
        if kind in kinds:
            taken.update(names)
    if figure != AlertFigure.CHEAPEST_IN_STOCK:
        taken.discard("min_stock")
    return taken


class AlertRuleForm(forms.Form):
    kind = forms.ChoiceField(
        label="Alert me when",
        choices=[
            (group, [(kind.value, kind.label) for kind in kinds]) for group, kinds in KIND_GROUPS
        ],
    )
    # Price falls below / rises above.
    figure = forms.ChoiceField(label="Price to watch", choices=AlertFigure.choices, required=False)
    price_threshold = forms.IntegerField(required=False)
    min_stock = forms.IntegerField(
        label="Items the offer has in stock, at least",
        required=False,
        help_text="Offers with fewer items in stock do not count.",
    )
    # Price moves.
    move_figure = forms.ChoiceField(
        label="Price to watch",
        choices=[(value, label) for value, label in AlertFigure.choices if value in MOVE_FIGURES],
        required=False,
    )
    direction = forms.ChoiceField(label="Direction", choices=AlertDirection.choices, required=False)
    change_size = forms.FloatField(label="By at least", required=False)
    change_unit = forms.ChoiceField(label="Unit", required=False)
    window = forms.ChoiceField(
        label="Within",
        choices=[(name, WINDOW_LABELS.get(name, name)) for name in WINDOWS],
        required=False,
    )
    # Total stock falls below.
    stock_threshold = forms.IntegerField(
        label="Items in stock, all offers together", required=False
    )
    # Lowest / highest price in N days.
    lookback_days = forms.TypedChoiceField(
        label="Compared with the last",
        choices=[(days, f"{days} days") for days in LOOKBACK_DAYS],
        coerce=int,
        empty_value=None,
        required=False,
    )
    # Noise control.
    debounce = forms.IntegerField(
        label="Syncs in a row",
        required=False,
        help_text="Fire only once the condition has held at this many syncs in a row "
        "(about a minute apart).",
    )
    cooldown_minutes = forms.IntegerField(
        label="Wait after firing (minutes)",
        required=False,
        help_text="It does not fire again sooner than this. 0: no wait.",
    )
    is_enabled = forms.BooleanField(label="Enabled", label_suffix="", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        currency = settings.PRICE_CURRENCY
        self.fields["price_threshold"].label = f"Price ({currency})"
        self.fields["change_unit"].choices = [("percent", "%"), ("amount", currency)]
        for name in ("price_threshold", "min_stock", "stock_threshold", "debounce"):
            self.fields[name].widget.attrs.update(min=1, step=1)
        self.fields["cooldown_minutes"].widget.attrs.update(min=0, step=1)
        self.fields["change_size"].widget.attrs.update(min=0, step="any")
        self.fields["kind"].widget.attrs.update(autofocus=True)

    # The kinds of each parameter group, as the template's data-kinds attributes want them.
    kinds_of = {
        group: " ".join(str(kind) for kind in kinds)
        for group, (kinds, _names) in PARAMETER_GROUPS.items()
    }

    @classmethod
    def initial_of(cls, spec: dict[str, Any]) -> dict[str, Any]:
        """The form's initial values for a rule's spec (pricing's rule_spec_of)."""
        kind = spec["kind"]
        initial = {
            **NEW_RULE_INITIAL,
            "kind": kind,
            "debounce": spec["debounce"],
            "cooldown_minutes": spec["cooldown_minutes"],
            "is_enabled": spec["is_enabled"],
        }
        if kind in PRICE_LEVEL_KINDS:
            initial |= {
                "figure": spec["figure"],
                "price_threshold": spec["threshold"],
                "min_stock": spec["min_stock"],
            }
        elif kind == AlertKind.PRICE_MOVE:
            percent = spec["change_percent"]
            initial |= {
                "move_figure": spec["figure"],
                "direction": spec["direction"],
                "window": spec["window"],
                "change_unit": "amount" if percent is None else "percent",
                "change_size": spec["change_amount"] if percent is None else percent,
            }
        elif kind == AlertKind.STOCK_BELOW:
            initial["stock_threshold"] = spec["threshold"]
        elif kind in LOOKBACK_KINDS:
            initial["lookback_days"] = spec["lookback_days"]
        return initial

    def clean(self):
        kind = self.cleaned_data.get("kind")
        if kind:
            # What the kind does not take may hold anything: it is not read.
            taken = fields_taken(kind, self.cleaned_data.get("figure"))
            for name in [name for name in self.errors if name != NON_FIELD_ERRORS]:
                if name not in taken:
                    del self.errors[name]
        return self.cleaned_data

    def spec(self) -> dict[str, Any]:
        """The rule as pricing takes it (rule_spec_clean), from a valid form."""
        data = self.cleaned_data
        kind = data["kind"]
        spec: dict[str, Any] = {
            "kind": kind,
            "cooldown_minutes": data["cooldown_minutes"],
            "is_enabled": data["is_enabled"],
        }
        if kind in PRICE_LEVEL_KINDS:
            spec |= {"figure": data["figure"], "threshold": data["price_threshold"]}
            if data["figure"] == AlertFigure.CHEAPEST_IN_STOCK:
                spec["min_stock"] = data["min_stock"]
        elif kind == AlertKind.PRICE_MOVE:
            spec |= {
                "figure": data["move_figure"],
                "direction": data["direction"],
                "window": data["window"],
            }
            size = data["change_size"]
            if data["change_unit"] == "amount":
                # A whole amount as an int; any other number goes on for pricing to refuse.
                whole = size is not None and float(size).is_integer()
                spec["change_amount"] = int(size) if whole else size
            else:
                spec["change_percent"] = size
        elif kind == AlertKind.STOCK_BELOW:
            spec["threshold"] = data["stock_threshold"]
        elif kind in LOOKBACK_KINDS:
            spec["lookback_days"] = data["lookback_days"]
        if kind not in EVENT_KINDS:
            spec["debounce"] = data["debounce"]
        return spec

    def add_spec_errors(self, error: ValidationError) -> None:
        """Put pricing's errors (keyed by spec field) on the form fields they concern."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        kind = self.cleaned_data.get("kind")
        fields = {
            "threshold": "stock_threshold" if kind == AlertKind.STOCK_BELOW else "price_threshold",
            "figure": "move_figure" if kind == AlertKind.PRICE_MOVE else "figure",
            "change_percent": "change_size",
            "change_amount": "change_size",
        }
        for key, messages in error.message_dict.items():
            name = fields.get(key, key)
            self.add_error(name if name in self.fields else None, messages)


HOURS = [(hour, f"{hour:02d}:00") for hour in range(24)]


class AlertSettingsForm(forms.Form):
    email_mode = forms.ChoiceField(
        label="Email me", choices=AlertEmailMode.choices, widget=forms.RadioSelect
    )
    digest_hour = forms.TypedChoiceField(
        label="Send the daily digest at",
        choices=HOURS,
        coerce=int,
        help_text="Used when you choose a daily digest.",
    )
    quiet_start = forms.TypedChoiceField(
        label="From", choices=[("", "—"), *HOURS], coerce=int, empty_value=None, required=False
    )
    quiet_end = forms.TypedChoiceField(
        label="Until", choices=[("", "—"), *HOURS], coerce=int, empty_value=None, required=False
    )
    daily_cap = forms.IntegerField(
        label="Alerts sent a day, at most",
        help_text="Alerts past it that day are recorded on the product page, not sent.",
        widget=forms.NumberInput(attrs={"min": 1, "step": 1}),
    )
    webhook_url = forms.CharField(
        label="Webhook URL",
        required=False,
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/prices"}),
        help_text="Each alert is POSTed there as JSON, signed with the secret below. "
        "Leave it empty for no webhook.",
    )

    @classmethod
    def initial_of(cls, prefs) -> dict[str, Any]:
        return {name: getattr(prefs, name) for name in cls.base_fields}

    def add_service_errors(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        for name, messages in error.message_dict.items():
            self.add_error(name if name in self.fields else None, messages)
