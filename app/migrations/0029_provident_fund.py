"""Tables and columns of 公积金 and materials from departments (none yet)."""

from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [('models', '0028_social_security_card')]

    initial = False

    operations: list = []
