"""The events table is append-only, enforced by the database: triggers refuse UPDATE and DELETE (and TRUNCATE)."""

from django.db import migrations


def create_triggers(apps, schema_editor):
    from eventlab.eventstore import triggers

    triggers.create(schema_editor.connection.alias)


def drop_triggers(apps, schema_editor):
    from eventlab.eventstore import triggers

    triggers.drop(schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("eventstore", "0001_initial")]
    operations = [migrations.RunPython(create_triggers, drop_triggers)]
