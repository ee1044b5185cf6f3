"""Tables and columns of settlements a department refused (none yet)."""

from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [('models', '0025_settlement_told')]

    initial = False

    operations: list = []
