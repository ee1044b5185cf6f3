from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_appeals')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RiskArea',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('region_code', fields.CharField(db_index=True, max_length=6)),
                ('level', fields.CharField(max_length=8)),
                ('effective_from', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('effective_to', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_by', fields.CharField(max_length=40)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'risk_areas', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A region on the risk-area list (风险地区), maintained by health administrators, with effective dates.'},
            bases=['Model'],
        ),
        # Spurious re-creation of the AuditEntry/AuditHead primary keys proposed by makemigrations removed (see 0004).
    ]
