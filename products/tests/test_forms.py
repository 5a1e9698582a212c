"""The product form's reference prices: optional whole numbers of the currency, bounded."""

import pytest

from products.forms import ProductForm
from products.models import REFERENCE_PRICE_MAX

pytestmark = pytest.mark.django_db


def form(**prices):
    return ProductForm({"name": "Grinder", "description": "", **prices})


def test_reference_prices_are_optional_whole_numbers():
    blank = form(my_price="", map_price="")
    assert blank.is_valid() and blank.cleaned_data["my_price"] is None
    given = form(my_price="1290", map_price="1100")
    assert given.is_valid()
    assert (given.cleaned_data["my_price"], given.cleaned_data["map_price"]) == (1290, 1100)


@pytest.mark.parametrize("value", ["0", "-5", "12.5", "abc", str(REFERENCE_PRICE_MAX + 1)])
def test_a_price_that_is_not_a_positive_whole_number_is_refused_in_place(value, settings):
    settings.PRICE_CURRENCY = "CZK"
    bound = form(my_price=value, map_price=value)
    assert not bound.is_valid()
    assert set(bound.errors) == {"my_price", "map_price"}


def test_the_help_text_names_the_currency(settings):
    settings.PRICE_CURRENCY = "EUR"
    assert "EUR" in ProductForm().fields["map_price"].help_text


def test_the_inputs_tell_the_browser_the_bounds():
    html = str(ProductForm()["my_price"])
    assert 'min="1"' in html and f'max="{REFERENCE_PRICE_MAX}"' in html
