"""Search: Chinese, Japanese and Korean are indexed as overlapping character pairs (docs/search.md,
docs/adr/0012). Every message that has an index entry gets it written again (chat.search, the
index's one writer), a batch at a time, each batch in its own transaction: a large table is not
held in one, and running it again (after an interruption) writes the same thing."""

from django.db import migrations


def reindex(apps, schema_editor):
    from chat import search

    search.reindex_messages()


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("chat", "0015_workspace_preferences"),
    ]

    operations = [
        # Backwards there is no schema to undo; the pairs stay (Latin words are indexed the same,
        # and the previous reader would not find a CJK run in them).
        migrations.RunPython(reindex, migrations.RunPython.noop),
    ]
