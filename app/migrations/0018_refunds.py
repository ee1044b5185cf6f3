"""Refunds reach the bill, the department and the e-receipt (placeholder: filled in by the refund work)."""

from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [('models', '0017_appeal_scope_and_code_status')]

    initial = False

    operations: list = []
