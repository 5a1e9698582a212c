from django.apps import AppConfig
from django.db.models.signals import post_save


class PricingConfig(AppConfig):
    name = "pricing"
    verbose_name = "Pricing"

    def ready(self):
        from pricing.receivers import track_new_product
        from products.models import Product

        post_save.connect(
            track_new_product, sender=Product, dispatch_uid="pricing.track_new_product"
        )
