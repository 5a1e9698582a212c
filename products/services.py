"""Writes to the catalogue. Every function is owner-scoped and refuses suspended products.

Creating a product does not talk to the Offers service: pricing hears of the new row through its
post_save receiver (DESIGN §2) and registers it once the transaction commits.
"""

import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from products.models import Product


class ProductSuspended(Exception):
    """Staff suspended the product: its owner cannot change it until they lift the suspension."""

    def __init__(self, product: Product):
        reason = f" Reason: {product.suspension_reason}" if product.suspension_reason else ""
        super().__init__(f"“{product.name}” is suspended by staff and cannot be changed.{reason}")
        self.product = product


class ProductLimitReached(Exception):
    """The owner has PRODUCTS_PER_USER_MAX products already."""

    def __init__(self, limit: int):
        super().__init__(
            f"You have {limit:,} products, the most one account may have. Delete products you "
            "no longer watch to add others."
        )
        self.limit = limit


def _owned(*, owner, product_id: uuid.UUID | str) -> Product:
    """The owner's product; Product.DoesNotExist for anyone else's (a 404, not a 403)."""
    return Product.objects.for_owner(owner).get(pk=product_id)


def product_create(
    *,
    owner,
    name: str,
    description: str = "",
    my_price: int | None = None,
    map_price: int | None = None,
) -> Product:
    """Create a product (validated); its registration with the Offers service follows on commit.
    Reference prices are whole units of PRICE_CURRENCY, or None. Raises ProductLimitReached
    when the owner has PRODUCTS_PER_USER_MAX products."""
    product = Product(
        owner=owner,
        name=name.strip(),
        description=description.strip(),
        my_price=my_price,
        map_price=map_price,
    )
    product.full_clean()
    # One transaction with the rows that post_save receivers write for a new product.
    with transaction.atomic():
        # The owner's row locked: two creations at once cannot both pass the count.
        get_user_model().objects.select_for_update().filter(pk=owner.pk).exists()
        limit = settings.PRODUCTS_PER_USER_MAX
        if Product.objects.filter(owner=owner).count() >= limit:
            raise ProductLimitReached(limit)
        product.save()
    return product


def product_update(
    *,
    owner,
    product_id: uuid.UUID | str,
    name: str,
    description: str,
    my_price: int | None,
    map_price: int | None,
) -> Product:
    """Rename or re-describe the owner's product, and set its reference prices (None clears
    one: they are required so that no caller clears them by forgetting them). Raises
    ProductSuspended, Product.DoesNotExist."""
    with transaction.atomic():
        product = _owned(owner=owner, product_id=product_id)
        if product.is_suspended:
            raise ProductSuspended(product)
        product.name = name.strip()
        product.description = description.strip()
        product.my_price, product.map_price = my_price, map_price
        product.full_clean()
        product.save(update_fields=["name", "description", "my_price", "map_price", "updated_at"])
    return product


def product_delete(*, owner, product_id: uuid.UUID | str) -> None:
    """Delete the owner's product with its offers and history. Raises ProductSuspended."""
    with transaction.atomic():
        # Locked before its related rows are collected: a sync storing offers meanwhile either
        # commits first (and its rows are deleted too) or finds the product gone.
        product = (
            Product.objects.for_owner(owner).select_for_update(of=("self",)).get(pk=product_id)
        )
        if product.is_suspended:
            raise ProductSuspended(product)
        product.delete()


def product_suspend(*, product: Product, reason: str) -> Product:
    """Staff moderation: freeze the product. Its owner sees it with the reason but cannot change
    or delete it, and it is not synced, until product_unsuspend. Suspending a suspended product
    replaces the reason. Raises ValueError without a reason: the owner is owed one."""
    reason = reason.strip()
    if not reason:
        raise ValueError("A suspension needs a reason: its owner sees it.")
    product.is_suspended = True
    product.suspension_reason = reason
    product.save(update_fields=["is_suspended", "suspension_reason", "updated_at"])
    return product


def product_unsuspend(*, product: Product) -> Product:
    """Lift a suspension: the owner may change the product again, and the next run syncs it."""
    product.is_suspended = False
    product.suspension_reason = ""
    product.save(update_fields=["is_suspended", "suspension_reason", "updated_at"])
    return product
