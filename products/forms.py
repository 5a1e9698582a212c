"""The product form: what users may set themselves (name and description)."""

from django import forms

from products.models import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH, Product


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ["name", "description"]
        widgets = {
            "name": forms.TextInput(
                attrs={"autofocus": True, "autocomplete": "off", "maxlength": NAME_MAX_LENGTH}
            ),
            "description": forms.Textarea(attrs={"rows": 4, "maxlength": DESCRIPTION_MAX_LENGTH}),
        }
        help_texts = {
            "name": f"Up to {NAME_MAX_LENGTH} characters.",
            "description": f"Optional, up to {DESCRIPTION_MAX_LENGTH:,} characters.",
        }

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the product a name.")
        return name
