"""The registration and sync columns leave Product: pricing keeps them in its own row
(pricing.0004 copied every value there first; it declares that it runs before this)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("products", "0002_registration_backoff_description_validator"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="product", name="products_pr_registr_c1a9b8_idx"),
        *(
            migrations.RemoveField(model_name="product", name=name)
            for name in [
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
        ),
    ]
