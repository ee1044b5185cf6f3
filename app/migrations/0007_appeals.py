from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_venues')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Appeal',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen_id', fields.CharField(db_index=True, max_length=40)),
                ('colour', fields.CharField(max_length=8)),
                ('reason', fields.TextField(unique=False)),
                ('status', fields.CharField(default='pending', db_index=True, max_length=10)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('reviewed_by', fields.CharField(null=True, max_length=40)),
                ('reviewed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('review_note', fields.CharField(null=True, max_length=500)),
                ('override_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'health_appeals', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A citizen disputes a colour (申诉): pending, then approved (with an override until a time) or rejected.'},
            bases=['Model'],
        ),
        # Spurious re-creation of the AuditEntry/AuditHead primary keys proposed by makemigrations removed (see 0004).
    ]
