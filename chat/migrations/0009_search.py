"""Search (docs/search.md): PostgreSQL's tsvector column with its GIN index; SQLite's FTS5 table.
Existing messages are indexed here (chat/search.py says how a message is indexed)."""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations

FTS_TABLE = "chat_message_fts"
# Contacts and subjects are matched as text (`icontains`, docs/search.md); on PostgreSQL these
# trigram indexes serve those UPPER(...) LIKE '%…%' reads (pg_trgm, shipped with PostgreSQL).
TRIGRAM_INDEXES = {
    "contact_name_trgm": ("chat_contact", "name"),
    "contact_email_trgm": ("chat_contact", "email"),
    "contact_phone_trgm": ("chat_contact", "phone"),
    "contact_attributes_trgm": ("chat_contact", "attributes"),
    "conversation_subject_trgm": ("chat_conversation", "subject"),
}


def create_index(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute("CREATE INDEX message_search_idx ON chat_message USING gin (search_vector)")
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, (table, column) in TRIGRAM_INDEXES.items():
            schema_editor.execute(f"CREATE INDEX {name} ON {table} USING gin ((UPPER(({column})::text)) gin_trgm_ops)")
    elif connection.vendor == "sqlite":
        schema_editor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(body, tokenize='unicode61 remove_diacritics 2')"
        )
    from chat import search

    Message = apps.get_model("chat", "Message")
    for message in Message.objects.only("id", "body", "attachments").iterator(chunk_size=2000):
        search.index_message(message)


def drop_index(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS message_search_idx")
        for name in TRIGRAM_INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    elif connection.vendor == "sqlite":
        schema_editor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0008_attachments"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(blank=True, editable=False, null=True),
        ),
        # The GIN index is PostgreSQL's; SQLite gets its FTS5 table instead.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="message",
                    index=django.contrib.postgres.indexes.GinIndex(
                        fields=["search_vector"], name="message_search_idx"
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        ),
    ]
