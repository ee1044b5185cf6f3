"""A signed-in device's push token on its login session: `login_sessions.push_platform`, the token
encrypted (`push_token_enc`) and its keyed hash (`push_token_hash`, indexed: a token registered again
by another session is moved there). All null for sessions without push and for every earlier session."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0020_face_sessions')]

    initial = False

    operations = [
        ops.AddField(
            model_name='LoginSession',
            name='push_platform',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddField(
            model_name='LoginSession',
            name='push_token_enc',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='LoginSession',
            name='push_token_hash',
            field=fields.CharField(null=True, db_index=True, max_length=64),
        ),
        # AddField does not create the index a field's db_index asks for: the same SQL on both databases.
        ops.RunSQL('CREATE INDEX IF NOT EXISTS "idx_login_sessi_push_to_6c1d2e" ON "login_sessions" ("push_token_hash")',
                   reverse_sql='DROP INDEX IF EXISTS "idx_login_sessi_push_to_6c1d2e"'),
    ]
