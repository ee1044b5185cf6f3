"""Tables and columns of 社保 proofs (none yet)."""

from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [('models', '0026_settlement_refused')]

    initial = False

    operations: list = []
