"""A push token is on one session at most (the index on its hash becomes unique: two sessions registering
one token at once cannot both keep it; NULLs do not clash), and a device's pushes speak the language it
registered its token in (`login_sessions.push_language`, null: zh-Hans)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0021_push_tokens')]

    initial = False

    operations = [
        ops.AddField(
            model_name='LoginSession',
            name='push_language',
            field=fields.CharField(null=True, max_length=8),
        ),
        ops.RunSQL('DROP INDEX IF EXISTS "idx_login_sessi_push_to_6c1d2e"',
                   reverse_sql='CREATE INDEX IF NOT EXISTS "idx_login_sessi_push_to_6c1d2e" ON "login_sessions" ("push_token_hash")'),
        ops.RunSQL('CREATE UNIQUE INDEX IF NOT EXISTS "uid_login_sessi_push_token_hash" ON "login_sessions" ("push_token_hash")',
                   reverse_sql='DROP INDEX IF EXISTS "uid_login_sessi_push_token_hash"'),
    ]
