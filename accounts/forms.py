"""Forms of the accounts app: the profile, account deletion and the admin's user forms."""

from django import forms
from django.contrib.auth import forms as auth_forms

from accounts.models import User, normalize_email_address, time_zone_choices


class ProfileForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        choices=time_zone_choices, help_text="Times and charts are shown in this zone."
    )

    class Meta:
        model = User
        fields = ["full_name", "time_zone"]
        help_texts = {"full_name": "Optional. Shown in the navigation instead of your email."}


class AccountDeleteForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Deleting the account removes all your products and their history for good.",
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.")
        return password


class EmailNormalizingMixin:
    """Admin forms: one spelling of the address, and a clear error for a duplicate in any case."""

    def clean_email(self):
        try:
            email = normalize_email_address(self.cleaned_data.get("email"))
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None
        duplicates = User.objects.filter(email__iexact=email)
        if self.instance.pk:
            duplicates = duplicates.exclude(pk=self.instance.pk)
        if duplicates.exists():
            raise forms.ValidationError("A user with this email address already exists.")
        return email


class AdminUserCreationForm(EmailNormalizingMixin, auth_forms.AdminUserCreationForm):
    class Meta:
        model = User
        fields = ["email", "full_name", "time_zone"]


class AdminUserChangeForm(EmailNormalizingMixin, auth_forms.UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
