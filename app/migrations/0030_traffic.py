"""Tables and columns of 交管 and licence status pulls (none yet)."""

from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [('models', '0029_provident_fund')]

    initial = False

    operations: list = []
