"""Regrouping a stream of tables into tables of a fixed number of rows, in order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa


def concatenable(left: pa.Schema, right: pa.Schema) -> bool:
    """Whether Arrow can put the two schemas in one table (types promoted where they differ)."""
    try:
        pa.unify_schemas([left, right], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    return True


class Rechunker:
    """Collects tables and hands back tables of exactly ``size`` rows; ``finish`` gives the
    rest. A table whose schema cannot join the buffered ones closes the current group early,
    so inputs with conflicting column types never fail."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._buffer: list[pa.Table] = []
        self._rows = 0

    def add(self, table: pa.Table) -> list[pa.Table]:
        if table.num_rows == 0:
            return []
        ready = []
        if self._buffer and not concatenable(self._buffer[-1].schema, table.schema):
            ready += self.finish()
        self._buffer.append(table)
        self._rows += table.num_rows
        while self._rows >= self.size:
            merged = pa.concat_tables(self._buffer, promote_options="permissive")
            ready.append(merged.slice(0, self.size))
            rest = merged.slice(self.size)
            self._buffer = [rest] if rest.num_rows else []
            self._rows = rest.num_rows
        return ready

    def finish(self) -> list[pa.Table]:
        if not self._buffer:
            return []
        merged = pa.concat_tables(self._buffer, promote_options="permissive")
        self._buffer, self._rows = [], 0
        return [merged]


def rechunk(tables: Iterable[pa.Table], size: int) -> Iterator[pa.Table]:
    rechunker = Rechunker(size)
    for table in tables:
        yield from rechunker.add(table)
    yield from rechunker.finish()
