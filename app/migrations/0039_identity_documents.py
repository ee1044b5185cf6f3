"""Identity documents besides the resident ID: the type of the document a citizen bound (`citizens.document_type`,
existing rows are resident IDs), the nationality it states (ISO 3166 alpha-3, null where it states none) and, for
a passport read with its machine-readable zone, the birth date it carries (encrypted, null otherwise).

Uniqueness stays on `id_number_hash`: the hash is taken over the number alone for the GB 11643 family (resident
ID, 港澳台居民居住证, 2023 永居证: one number space) and over type (and nationality) + number for the others, so one
(type, number) is bound to one account."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0038_account_deletions')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Citizen',
            name='document_type',
            field=fields.CharField(default='resident_id', db_default='resident_id', max_length=24),
        ),
        ops.AddField(
            model_name='Citizen',
            name='nationality',
            field=fields.CharField(null=True, max_length=3),
        ),
        ops.AddField(
            model_name='Citizen',
            name='birth_date_enc',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.RunSQL("UPDATE citizens SET nationality = 'CHN' WHERE id_number_hash IS NOT NULL AND nationality IS NULL",
                   reverse_sql="SELECT 1"),
    ]
