"""No change to the schema: 电子社保卡 keeps nothing of its own in the database (its QR handles live in the cache for their minute). Kept so that the chain of migrations stays as applied."""

from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [('models', '0027_social_insurance_proofs')]

    initial = False

    operations: list = []
