"""DRF's unscoped, never-expiring `Token` keys end: `rest_framework.authtoken` is no longer installed
(accounts' scoped, expiring ApiToken replaces it), and its table goes.

A legacy key cannot become a scoped token: only its holder knows it, and it has no scope nor expiry
to carry over. Each integration that used one gets a new token (README, "API"; docs/security.md).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_retention")]

    operations = [
        migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token", reverse_sql=migrations.RunSQL.noop),
    ]
