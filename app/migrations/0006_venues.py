from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_api_clients')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Venue',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('name', fields.CharField(max_length=100)),
                ('address', fields.CharField(max_length=200)),
                ('region_code', fields.CharField(max_length=6)),
                ('organisation_id', fields.CharField(db_index=True, max_length=40)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'venues', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A place with a venue code (场所码), registered by an organisation.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VenueCheckIn',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen_id', fields.CharField(max_length=40)),
                ('venue', fields.ForeignKeyField('models.Venue', source_field='venue_id', db_constraint=True, to_field='id', related_name='check_ins', on_delete=OnDelete.CASCADE)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'venue_check_ins', 'app': 'models', 'indexes': [Index(fields=['venue_id', 'at']), Index(fields=['citizen_id', 'at'])], 'pk_attr': 'id', 'table_description': 'A citizen scanned a venue code (扫码登记).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VenueExposure',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('venue', fields.ForeignKeyField('models.Venue', source_field='venue_id', db_constraint=True, to_field='id', related_name='exposures', on_delete=OnDelete.CASCADE)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('marked_by', fields.CharField(max_length=40)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('affected', fields.IntField(default=0)),
            ],
            options={'table': 'venue_exposures', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A window in which a confirmed case was at a venue, marked by a health administrator.'},
            bases=['Model'],
        ),
        # Spurious re-creation of the AuditEntry/AuditHead primary keys proposed by makemigrations removed (see 0004).
    ]
