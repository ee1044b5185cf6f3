"""A clerk's or department's API client belongs to one department (placeholder: filled in by the scoping work)."""

from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [('models', '0018_refunds')]

    initial = False

    operations: list = []
