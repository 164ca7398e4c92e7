"""What a table costs to keep, read without reading the table: its estimated rows, its bytes on disk
and the oldest value of an indexed time column, for any number of tables in a fixed number of queries.

PostgreSQL: rows are the planner's own estimate (pg_class.reltuples per page times the pages the
table has now; the statistics collector's live count before the table's first ANALYZE), bytes are
pg_total_relation_size (table, indexes and TOAST). Both are catalogue reads: no table is scanned.

SQLite keeps neither. Rows are max(rowid) - min(rowid) + 1, two index lookups: an upper bound, since
rows deleted in between still count. Bytes come from the dbstat virtual table, which walks every page
of the table, so it is asked only while the whole database file is at most DBSTAT_MAX_BYTES (and only
when this SQLite was built with it); past that the size is unknown (None) rather than slow.

The oldest value is `ORDER BY col LIMIT 1` over an index whose leading columns are the equality
filter's and then `col`: one index entry read, whatever the table's size. A column without such an
index is never asked (`has_time_index` tells the caller first).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import timezone as dt_timezone
from typing import cast

from django.db import connection
from django.db.models import Field, Model, UniqueConstraint

# dbstat reads about 3 MB a millisecond: past this the card would wait on it at every visit.
DBSTAT_MAX_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True)
class OldestLookup:
    """The oldest `time_field` of `model`'s rows matching `where` (equality filters)."""

    model: type[Model]
    time_field: str
    where: Mapping[str, object] = field(default_factory=dict)


def has_time_index(model: type[Model], time_field: str, where: Sequence[str] = ()) -> bool:
    """Whether an index of `model` starts with the `where` columns (in any order) and then
    `time_field`, so that the oldest row matching `where` is the first entry it holds. Read from the
    model's declaration (field options, Meta.indexes, unique constraints), so it costs no query."""
    own = cast(Field, model._meta.get_field(time_field))
    candidates: list[list[str]] = []
    if getattr(own, "db_index", False) or own.unique or own.primary_key:  # django-stubs has no db_index
        candidates.append([time_field])
    candidates += [list(index.fields) for index in model._meta.indexes if index.condition is None]
    candidates += [
        list(constraint.fields)
        for constraint in model._meta.constraints
        if isinstance(constraint, UniqueConstraint) and constraint.condition is None
    ]
    candidates += [list(together) for together in model._meta.unique_together]
    leading = len(where)
    for columns in candidates:
        names = [name.lstrip("-") for name in columns]
        if len(names) > leading and set(names[:leading]) == set(where) and names[leading] == time_field:
            return True
    return False


def table_figures(tables: Sequence[str]) -> dict[str, tuple[int | None, int | None]]:
    """(estimated rows, bytes on disk) of each table, None where unknown: one query on PostgreSQL,
    at most two on SQLite."""
    if not tables:
        return {}
    if connection.vendor == "postgresql":
        return _postgresql_figures(tables)
    if connection.vendor == "sqlite":
        return _sqlite_figures(tables)
    return {table: (None, None) for table in tables}


def _postgresql_figures(tables: Sequence[str]) -> dict[str, tuple[int | None, int | None]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.name,"
            " CASE WHEN c.relpages > 0 AND c.reltuples >= 0"
            "  THEN (c.reltuples / c.relpages * pg_relation_size(c.oid)"
            "        / current_setting('block_size')::float8)::bigint"
            "  ELSE s.n_live_tup END,"
            " pg_total_relation_size(c.oid)"
            " FROM unnest(%s::text[]) AS t(name)"
            " LEFT JOIN pg_class c ON c.oid = to_regclass(quote_ident(t.name))"
            " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid",
            [list(tables)],
        )
        return {name: (rows, size) for name, rows, size in cursor.fetchall()}


def _sqlite_figures(tables: Sequence[str]) -> dict[str, tuple[int | None, int | None]]:
    quote = connection.ops.quote_name
    rows_sql = [
        f"COALESCE((SELECT max(rowid) FROM {quote(t)}) - (SELECT min(rowid) FROM {quote(t)}) + 1, 0)" for t in tables
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(rows_sql)},"
            " (SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()),"
            " (SELECT count(*) FROM pragma_compile_options WHERE compile_options = 'ENABLE_DBSTAT_VTAB')"
        )
        *rows, database_bytes, has_dbstat = cursor.fetchone()
        sizes: dict[str, int] = {}
        if has_dbstat and database_bytes <= DBSTAT_MAX_BYTES:
            # A table's indexes (its automatic ones too) are its bytes as well, as in pg_total_relation_size.
            cursor.execute(
                "SELECT m.tbl_name, sum(s.pgsize) FROM sqlite_master m JOIN dbstat s ON s.name = m.name"
                f" WHERE s.aggregate = 1 AND m.tbl_name IN ({', '.join(['%s'] * len(tables))})"
                " GROUP BY m.tbl_name",
                list(tables),
            )
            sizes = dict(cursor.fetchall())
    return {table: (count, sizes.get(table)) for table, count in zip(tables, rows, strict=True)}


def oldest_values(lookups: Sequence[OldestLookup]) -> list[datetime | None]:
    """The oldest value of each lookup, in order (None for an empty table), in one query: each is a
    scalar subquery reading the first entry of its index. Dates count from their midnight, UTC."""
    if not lookups:
        return []
    parts, params = [], []
    for lookup in lookups:
        rows = lookup.model._base_manager.filter(**lookup.where)
        if cast(Field, lookup.model._meta.get_field(lookup.time_field)).null:
            # NULLs sort first on SQLite and last on PostgreSQL: neither is the oldest row.
            rows = rows.filter(**{f"{lookup.time_field}__isnull": False})
        query = rows.order_by(lookup.time_field).values_list(lookup.time_field)[:1].query
        sql, query_params = query.get_compiler(connection=connection).as_sql()
        parts.append(f"({sql})")
        params += list(query_params)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(parts)}", params)
        values = cursor.fetchone()
    return [_as_moment(lookup, value) for lookup, value in zip(lookups, values, strict=True)]


def _as_moment(lookup: OldestLookup, value: object) -> datetime | None:
    if value is None:
        return None
    # The backend's own converters: SQLite hands back text, PostgreSQL already a datetime.
    model_field = cast(Field, lookup.model._meta.get_field(lookup.time_field))
    column = model_field.cached_col
    for convert in connection.ops.get_db_converters(column) + model_field.get_db_converters(connection):
        value = convert(value, column, connection)
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=dt_timezone.utc)
    raise TypeError(f"{lookup.model._meta.label}.{lookup.time_field} is not a date or a time: {value!r}")
