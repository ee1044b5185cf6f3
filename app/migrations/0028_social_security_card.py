"""Tables and columns of 电子社保卡 (none yet)."""

from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [('models', '0027_social_insurance_proofs')]

    initial = False

    operations: list = []
