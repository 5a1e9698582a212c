from django.apps import AppConfig
from django.db.models.signals import post_migrate


def create_cache_tables(sender, *, using: str, verbosity: int = 1, **kwargs) -> None:
    """After `migrate`, the database cache's table exists too (when a DatabaseCache is set up;
    with Redis there is nothing to do): allauth's rate limits and the API's throttles live in
    the cache, and without its table signup and login answer 500."""
    from django.core.management import call_command

    # createcachetable says "already exists" at verbosity 1: quiet unless asked for more.
    call_command("createcachetable", database=using, verbosity=verbosity if verbosity > 1 else 0)


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import checks  # noqa: F401  (registers the system checks)

        # In accounts, the lowest of our apps, with the other site-wide account concerns: it is
        # installed wherever the site is, and site/ holds settings and URLs only. Connected for
        # this one sender, so that it runs once per `migrate`, as Django's own apps do for
        # their content types and permissions.
        post_migrate.connect(
            create_cache_tables, sender=self, dispatch_uid="accounts.create_cache_tables"
        )
