"""Database helpers the ORM lacks."""

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model

ROWS_PER_STATEMENT = 1000


def update_rows(rows: Sequence[Model], names: Sequence[str]) -> None:
    """Save these fields of these rows: what `bulk_update` does, for a fraction of its cost.

    `bulk_update` builds one statement with a CASE per field over every row; for hundreds of
    rows building it costs more than running it (most of the metrics pipeline's time went
    there). On PostgreSQL this is one `UPDATE … FROM unnest(arrays)` per thousand rows;
    elsewhere one plain UPDATE per row, sent as one `executemany`. Values are
    prepared by their fields, as the ORM prepares them.
    """
    if not rows:
        return
    meta = type(rows[0])._meta
    fields = [meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    values = [[*(f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields), row.pk] for row in rows]
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", values)
            return
        # One array per column: the statement stays short (parsed once, here and in PostgreSQL).
        columns = [*fields, meta.pk]
        arrays = ", ".join(f"%s::{f.cast_db_type(connection)}[]" for f in columns)
        names_sql = ", ".join(quote(f.column) for f in columns)
        assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields)
        sql = f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({names_sql}) WHERE {table}.{pk} = v.{pk}"
        for start in range(0, len(values), ROWS_PER_STATEMENT):
            chunk = values[start : start + ROWS_PER_STATEMENT]
            cursor.execute(sql, [list(column) for column in zip(*chunk, strict=True)])
