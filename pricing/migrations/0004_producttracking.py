"""Pricing's state of each product moves off Product into a row pricing owns (ProductTracking).

Every product gets its row with every value it had; products.0003 then drops the old columns
(this migration runs before it). Reversible: the values go back to the product rows.
"""

import django.db.models.deletion
from django.db import migrations, models

STATE_FIELDS = [
    "registration_state",
    "registration_error",
    "registration_attempts",
    "registration_next_attempt_at",
    "registered_at",
    "last_synced_at",
    "last_sync_error",
    "last_sync_error_at",
    "sync_failures",
]
BATCH = 1000


def copy_to_tracking(apps, schema_editor):
    Product = apps.get_model("products", "Product")
    ProductTracking = apps.get_model("pricing", "ProductTracking")
    rows = Product.objects.order_by("pk").values("pk", *STATE_FIELDS)
    batch = []
    for row in rows.iterator(chunk_size=BATCH):
        batch.append(ProductTracking(product_id=row.pop("pk"), **row))
        if len(batch) == BATCH:
            ProductTracking.objects.bulk_create(batch)
            batch = []
    ProductTracking.objects.bulk_create(batch)


def copy_back_to_products(apps, schema_editor):
    Product = apps.get_model("products", "Product")
    ProductTracking = apps.get_model("pricing", "ProductTracking")
    batch = []
    for row in ProductTracking.objects.order_by("pk").values("pk", *STATE_FIELDS).iterator():
        batch.append(Product(pk=row.pop("pk"), **row))
        if len(batch) == BATCH:
            Product.objects.bulk_update(batch, STATE_FIELDS)
            batch = []
    Product.objects.bulk_update(batch, STATE_FIELDS)


class Migration(migrations.Migration):
    dependencies = [
        ("pricing", "0003_offer_last_seen_index"),
        ("products", "0002_registration_backoff_description_validator"),
    ]
    # The columns it copies must still exist: products drops them only after this.
    run_before = [("products", "0003_pricing_state_moves_to_pricing")]

    operations = [
        migrations.CreateModel(
            name="ProductTracking",
            fields=[
                (
                    "product",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="tracking",
                        serialize=False,
                        to="products.product",
                    ),
                ),
                (
                    "registration_state",
                    models.CharField(
                        choices=[
                            ("pending", "Registering"),
                            ("registered", "Registered"),
                            ("failed", "Registration failed"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("registration_error", models.TextField(blank=True)),
                ("registration_attempts", models.PositiveIntegerField(default=0)),
                (
                    "registration_next_attempt_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When a failed registration is tried again (backoff).",
                        null=True,
                    ),
                ),
                ("registered_at", models.DateTimeField(blank=True, null=True)),
                (
                    "last_synced_at",
                    models.DateTimeField(
                        blank=True, help_text="The last successful sync.", null=True
                    ),
                ),
                ("last_sync_error", models.TextField(blank=True)),
                ("last_sync_error_at", models.DateTimeField(blank=True, null=True)),
                (
                    "sync_failures",
                    models.PositiveIntegerField(
                        default=0, help_text="Consecutive failed syncs; 0 after a success."
                    ),
                ),
            ],
            options={
                "verbose_name": "tracking",
                "verbose_name_plural": "tracking",
                "indexes": [
                    models.Index(
                        fields=["registration_state"], name="pricing_pro_registr_2686a1_idx"
                    )
                ],
            },
        ),
        migrations.RunPython(copy_to_tracking, copy_back_to_products, elidable=False),
    ]
