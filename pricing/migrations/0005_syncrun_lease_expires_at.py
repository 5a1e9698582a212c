"""A sync run remembers when its lease expires: past that, unfinished, it is stalled.

Existing runs get started_at + 10 minutes, the fixed rule they were shown with until now.
"""

from datetime import timedelta

from django.db import migrations, models
from django.db.models import F


def fill(apps, schema_editor):
    SyncRun = apps.get_model("pricing", "SyncRun")
    SyncRun.objects.update(lease_expires_at=F("started_at") + timedelta(minutes=10))


class Migration(migrations.Migration):
    dependencies = [("pricing", "0004_producttracking")]

    operations = [
        migrations.AddField(
            model_name="syncrun",
            name="lease_expires_at",
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="syncrun",
            name="lease_expires_at",
            field=models.DateTimeField(editable=False),
        ),
    ]
