"""The user: email is the login, stored lower-cased and unique whatever its case."""

import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


def normalize_email_address(email: str | None) -> str:
    """The one spelling of an address we store and look up: stripped and lower-cased.

    Raises ValueError when the address is empty or not an email address.
    """
    email = (email or "").strip().lower()
    if not email:
        raise ValueError("An email address is required.")
    try:
        validate_email(email)
    except ValidationError:
        raise ValueError(f"{email!r} is not a valid email address.") from None
    return email


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, *, email_verified=False, **extra_fields):
        from allauth.account.models import EmailAddress

        user = self.model(email=normalize_email_address(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        # allauth treats an address without its EmailAddress row as unknown (password reset,
        # verification), so users made outside allauth (createsuperuser, API, admin) get one.
        EmailAddress.objects.using(self._db).create(
            user=user, email=user.email, primary=True, verified=email_verified
        )
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if extra_fields["is_staff"] is not True:
            raise ValueError("A superuser must have is_staff=True.")
        if extra_fields["is_superuser"] is not True:
            raise ValueError("A superuser must have is_superuser=True.")
        # Made by an operator on the command line, who vouches for the address.
        return self._create_user(email, password, email_verified=True, **extra_fields)

    def get_by_natural_key(self, email):
        # Django matches the natural key exactly; logins (site, admin, API token) must not care
        # about case.
        return self.get(email__iexact=(email or "").strip())


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]


def default_time_zone() -> str:
    return settings.TIME_ZONE


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    time_zone = models.CharField(max_length=64, default=default_time_zone)
    is_staff = models.BooleanField(
        "staff status",
        default=False,
        help_text="Designates whether the user can log into the admin site.",
    )
    is_active = models.BooleanField(
        "active",
        default=True,
        help_text="Unselect this instead of deleting accounts.",
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"
        ordering = ["email"]
        constraints = [
            # `unique=True` alone lets "A@x.io" and "a@x.io" coexist for rows written around
            # the manager; this makes the rule the database's.
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        if self.email:
            self.email = self.email.strip().lower()
        if self.time_zone not in zoneinfo.available_timezones():
            raise ValidationError({"time_zone": "Choose a time zone from the list."})

    def save(self, *args, **kwargs):
        # Every write path (forms, admin, allauth, API) stores the one lower-cased spelling.
        if self.email:
            self.email = self.email.strip().lower()
        super().save(*args, **kwargs)

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    @property
    def zoneinfo(self) -> zoneinfo.ZoneInfo:
        try:
            return zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo(settings.TIME_ZONE)
