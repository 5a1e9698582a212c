"""The catalogue: a user's products, and their moderation by staff.

How the Offers service knows a product (registration, sync) is pricing's, in a row of its own
(pricing.models.ProductTracking): products knows nothing of pricing (DESIGN §2).
"""

import uuid

from django.conf import settings
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

NAME_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 2000
# Far beyond any real price: a reference price above it is a typo.
REFERENCE_PRICE_MAX = 10**12


class ProductQuerySet(models.QuerySet):
    def for_owner(self, user) -> "ProductQuerySet":
        return self.filter(owner=user)

    def active(self) -> "ProductQuerySet":
        """Neither suspended by staff nor owned by a deactivated user: the sync skips the rest
        (and takes them up again once staff lift the suspension or reactivate the owner)."""
        return self.filter(is_suspended=False, owner__is_active=True)

    def search(self, query: str) -> "ProductQuerySet":
        query = query.strip()
        if not query:
            return self
        return self.filter(Q(name__icontains=query) | Q(description__icontains=query))


class Product(models.Model):
    # Generated here: it is also the id the Offers service knows the product by.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="products"
    )
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    description = models.TextField(
        max_length=DESCRIPTION_MAX_LENGTH,
        blank=True,
        # TextField's max_length reaches forms only; the validator makes full_clean check it.
        validators=[MaxLengthValidator(DESCRIPTION_MAX_LENGTH)],
    )
    # The owner's reference prices, in whole units of PRICE_CURRENCY (optional): what they sell
    # it for, and the minimum advertised price resellers must not advertise below (MAP).
    # pricing.market measures the offers against them.
    my_price = models.PositiveBigIntegerField(
        "my price",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(REFERENCE_PRICE_MAX)],
        help_text="What you sell it for.",
    )
    map_price = models.PositiveBigIntegerField(
        "minimum advertised price (MAP)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(REFERENCE_PRICE_MAX)],
        help_text="Offers below it violate your MAP policy.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    is_suspended = models.BooleanField("suspended", default=False)
    suspension_reason = models.TextField(blank=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["owner", "name"]),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="products_product_name_not_empty"),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("description"), DESCRIPTION_MAX_LENGTH),
                name="products_product_description_bounded",
            ),
        ]

    def __str__(self) -> str:
        return self.name
