"""No change to the schema: 公积金 withdrawals and materials from departments are kept in the applications tables as they are. Kept so that the chain of migrations stays as applied."""

from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [('models', '0028_social_security_card')]

    initial = False

    operations: list = []
