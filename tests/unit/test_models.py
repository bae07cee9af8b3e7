"""The unit of work writes parent rows before the rows that point at them."""

from __future__ import annotations

from sqlalchemy import Table

from imghost.models import Base


def test_every_table_is_flushed_after_the_tables_it_points_at() -> None:
    # Without relationship()s SQLAlchemy orders the INSERTs of different mappers
    # by Mapper._sort_key (the module path): imghost.models rewrites those keys
    # in foreign-key order. Checked for every foreign key, so a moved model or a
    # SQLAlchemy that stops reading the key fails here, not in one upload path.
    key = {
        mapper.local_table: mapper._sort_key
        for mapper in Base.registry.mappers
        if isinstance(mapper.local_table, Table)
    }
    wrong = [
        f"{table.name} -> {fk.column.table.name}"
        for table in key
        for fk in table.foreign_keys
        if fk.column.table is not table
        and fk.column.table in key
        and not key[fk.column.table] < key[table]
    ]
    assert not wrong, f"flushed before the table they point at: {wrong}"
