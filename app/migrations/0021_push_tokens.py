"""Placeholder: a signed-in device's push token on its login session (filled in by the push work)."""

from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [('models', '0020_face_sessions')]

    initial = False

    operations: list = []
