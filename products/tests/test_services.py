import pytest
from django.core.exceptions import ValidationError

from products.models import DESCRIPTION_MAX_LENGTH, Product
from products.services import (
    ProductSuspended,
    product_create,
    product_delete,
    product_suspend,
    product_update,
)

pytestmark = pytest.mark.django_db


def test_create_strips_and_starts_pending(user):
    product = product_create(owner=user, name="  Espresso machine ", description=" Steel. ")
    assert product.name == "Espresso machine"
    assert product.description == "Steel."
    assert product.owner == user


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_create_refuses_a_bad_name(user, name):
    with pytest.raises(ValidationError) as error:
        product_create(owner=user, name=name)
    assert "name" in error.value.message_dict
    assert not Product.objects.exists()


def test_create_refuses_a_description_past_the_bound(user):
    with pytest.raises(ValidationError) as error:
        product_create(owner=user, name="ok", description="x" * (DESCRIPTION_MAX_LENGTH + 1))
    assert "description" in error.value.message_dict


def test_the_database_refuses_an_empty_name_written_around_the_service(user):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        Product.objects.create(owner=user, name="")


def test_update_changes_name_and_description(user):
    product = product_create(owner=user, name="Old")
    updated = product_update(
        owner=user,
        product_id=product.pk,
        name="New",
        description="d",
        my_price=None,
        map_price=None,
    )
    assert (updated.name, updated.description) == ("New", "d")


def test_update_and_delete_of_another_users_product_are_not_found(user, other_user):
    product = product_create(owner=user, name="Mine")
    with pytest.raises(Product.DoesNotExist):
        product_update(
            owner=other_user,
            product_id=product.pk,
            name="Theirs",
            description="",
            my_price=None,
            map_price=None,
        )
    with pytest.raises(Product.DoesNotExist):
        product_delete(owner=other_user, product_id=product.pk)
    product.refresh_from_db()
    assert product.name == "Mine"


def test_a_suspended_product_cannot_be_changed_or_deleted(user):
    product = product_suspend(product=product_create(owner=user, name="P"), reason="spam")
    with pytest.raises(ProductSuspended, match="spam"):
        product_update(
            owner=user,
            product_id=product.pk,
            name="Q",
            description="",
            my_price=None,
            map_price=None,
        )
    with pytest.raises(ProductSuspended):
        product_delete(owner=user, product_id=product.pk)
    assert Product.objects.get(pk=product.pk).name == "P"


def test_delete_removes_the_product(user):
    product = product_create(owner=user, name="P")
    product_delete(owner=user, product_id=product.pk)
    assert not Product.objects.exists()


def test_deleting_the_owner_deletes_their_products(user):
    product_create(owner=user, name="P")
    user.delete()
    assert not Product.objects.exists()
