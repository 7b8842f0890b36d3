"""Set-based writes of rows already in memory (the group commit of chat messages, ADR 0015)."""

from collections.abc import Sequence

from django.db import connection, models


def update_rows(model: type[models.Model], rows: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Write `fields` of every row in `rows` (same model, saved before) as they are in memory.

    PostgreSQL: one `UPDATE … FROM (VALUES …)` for all of them (each value cast to its column's
    type, so NULLs and JSON need no guessing). Elsewhere (SQLite): one `save(update_fields=…)`
    per row, in the caller's transaction. Each row is written once either way: a second UPDATE
    of a row in one transaction checks its foreign keys again (ADR 0001).
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        for row in rows:
            row.save(update_fields=list(fields))
        return
    meta = model._meta
    pk = meta.pk
    columns = [pk, *(meta.get_field(name) for name in fields)]
    casts = [
        f"%s::{column.db_type(connection) if column is not pk else pk.rel_db_type(connection)}" for column in columns
    ]
    row_sql = "(" + ", ".join(casts) + ")"
    params: list = []
    for row in rows:
        for column in columns:
            params.append(column.get_db_prep_save(getattr(row, column.attname), connection))
    quote = connection.ops.quote_name
    names = ", ".join(quote(column.column) for column in columns)
    assignments = ", ".join(f"{quote(column.column)} = v.{quote(column.column)}" for column in columns[1:])
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {assignments} "
        f"FROM (VALUES {', '.join([row_sql] * len(rows))}) AS v ({names}) "
        f"WHERE {quote(meta.db_table)}.{quote(pk.column)} = v.{quote(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
