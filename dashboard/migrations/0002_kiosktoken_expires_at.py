from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0001_access_tokens_audit"),
    ]

    operations = [
        migrations.AddField(
            model_name="kiosktoken",
            name="expires_at",
            field=models.DateTimeField(
                blank=True, help_text="refused from then on like a revoked token; empty: never", null=True
            ),
        ),
    ]
