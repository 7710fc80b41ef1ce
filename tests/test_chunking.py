"""Regrouping tables into parts and shards keeps every row, in order."""

import pyarrow as pa

from goldpan.data.chunking import rechunk


def test_rechunk_gives_tables_of_the_requested_size_in_order() -> None:
    tables = [
        pa.table({"id": [str(i) for i in range(s, s + n)]})
        for s, n in [(0, 3), (3, 0), (3, 5), (8, 4)]
    ]
    sizes = [t.num_rows for t in rechunk(tables, 4)]
    assert sizes == [4, 4, 4]
    ids = [i for t in rechunk(tables, 5) for i in t.column("id").to_pylist()]
    assert ids == [str(i) for i in range(12)]


def test_rechunk_starts_a_new_group_when_column_types_conflict() -> None:
    tables = [pa.table({"meta": [1, 2]}), pa.table({"meta": ["x", "y"]})]
    grouped = list(rechunk(tables, 10))
    assert [t.column("meta").to_pylist() for t in grouped] == [[1, 2], ["x", "y"]]
