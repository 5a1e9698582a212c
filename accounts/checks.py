"""System checks of the account settings (`manage.py check`, and every `migrate`)."""

from allauth.account import app_settings as allauth_settings
from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security)
def email_verification_is_mandatory_in_production(app_configs, **kwargs) -> list[checks.Warning]:
    """ACCOUNT_EMAIL_VERIFICATION may be weakened by the environment, but never silently with
    DEBUG off."""
    method = allauth_settings.EMAIL_VERIFICATION
    if settings.DEBUG or method == allauth_settings.EmailVerificationMethod.MANDATORY:
        return []
    return [
        checks.Warning(
            f"ACCOUNT_EMAIL_VERIFICATION is {method.value!r} while DEBUG is off: anyone can "
            "sign up and sign in with an address they do not own, and signing up with a taken "
            "address says that it is taken.",
            hint="Unset ACCOUNT_EMAIL_VERIFICATION (mandatory is the default without DEBUG).",
            id="accounts.W001",
        )
    ]
