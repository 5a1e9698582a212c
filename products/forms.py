"""The product form: what users may set themselves (name, description, reference prices)."""

from django import forms
from django.conf import settings

from products.models import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH, REFERENCE_PRICE_MAX, Product


def _price_input() -> forms.NumberInput:
    return forms.NumberInput(attrs={"step": 1, "inputmode": "numeric"})


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ["name", "description", "my_price", "map_price"]
        widgets = {
            "name": forms.TextInput(
                attrs={"autofocus": True, "autocomplete": "off", "maxlength": NAME_MAX_LENGTH}
            ),
            "description": forms.Textarea(attrs={"rows": 4, "maxlength": DESCRIPTION_MAX_LENGTH}),
            "my_price": _price_input(),
            "map_price": _price_input(),
        }
        help_texts = {
            "name": f"Up to {NAME_MAX_LENGTH} characters.",
            "description": f"Optional, up to {DESCRIPTION_MAX_LENGTH:,} characters.",
            "my_price": "Optional, in whole {currency}: where your price stands among the offers.",
            "map_price": "Optional, in whole {currency}: offers below it are MAP violations.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("my_price", "map_price"):
            field = self.fields[name]
            field.help_text = field.help_text.format(currency=settings.PRICE_CURRENCY)
            # The model's validators bound it; the form field's own bounds are the column's.
            field.widget.attrs.update(min=1, max=REFERENCE_PRICE_MAX)
            field.error_messages["invalid"] = f"Enter a whole number of {settings.PRICE_CURRENCY}."

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the product a name.")
        return name
