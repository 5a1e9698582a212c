import pytest


@pytest.fixture
def empty_cache_afterwards():
    from django.core.cache import cache

    yield
    cache.clear()  # the Redis cache outlives the test's transaction
