"""Register products with the Offers service now, in this process, with a progress bar."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from pricing import services
from pricing.models import ProductTracking, RegistrationState


class Command(BaseCommand):
    help = (
        "Register every pending product with the Offers service now (the worker retries them "
        "on its own). --failed also retries products whose registration failed for good."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--failed", action="store_true", help="also register products marked failed"
        )

    def handle(self, *args, failed=False, verbosity=1, **options):
        tracked = ProductTracking.objects.active().exclude(
            registration_state=RegistrationState.REGISTERED
        )
        if not failed:
            tracked = tracked.pending()
        products = [
            t.product for t in tracked.select_related("product").order_by("product__created_at")
        ]
        if not products:
            self.stdout.write("Nothing to register.")
            return
        registered, errors = 0, []
        for product in tqdm(
            products, unit="product", disable=verbosity == 0, file=self.stderr._out
        ):
            # Now, as asked: a pending product waiting out its backoff starts over too.
            services.product_register_again(product=product)
            outcome = services.product_register(product_id=product.pk)
            if outcome.registered:
                registered += 1
            else:
                errors.append((product, outcome.error))
        for product, error in errors:
            self.stderr.write(f"  {product.pk} “{product.name}”: {error}")
        style = self.style.ERROR if errors else self.style.SUCCESS
        self.stdout.write(style(f"Registered {registered} of {len(products)} products."))
