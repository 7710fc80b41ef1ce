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


def test_output_parts_with_different_fields_share_one_schema(tmp_path) -> None:
    import pyarrow.parquet as pq

    from goldpan.data.writers import write_records

    first = tmp_path / "a.parquet"
    second = tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": ["1"], "text": ["x"], "meta": [1]}), first)
    pq.write_table(
        pa.table({"id": ["2"], "text": ["y"], "lang": ["en"], "meta": [{"k": 1}]}), second
    )
    names = write_records([first, second], tmp_path / "out", "parquet", None)
    schemas = [pq.read_schema(tmp_path / "out" / n).remove_metadata() for n in names]
    assert schemas[0].equals(schemas[1])
    assert schemas[0].names == ["id", "text", "meta", "lang"]
    table = pa.concat_tables([pq.read_table(tmp_path / "out" / n) for n in names])
    assert table.column("meta").to_pylist() == ["1", '{"k":1}']
