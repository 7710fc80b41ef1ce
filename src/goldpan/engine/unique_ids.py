"""Ids from the input must be unique: the ledger counts every record by its id.

The check runs once the read stage is written, over every id that left the read step (the kept
parts and the read stage's rejects), so a repeated id is caught whichever path read it (fast or
line-by-line parsing, plain or compressed, whole files or byte ranges) and whether or not a copy
was rejected. Each read task hands back the ids it wrote, so the driver reads nothing again (on
a bucket that was a second download of every part's id column); only units resumed from an
earlier run have their ids read from their files. When ids repeat, the input units that hold
them are read again to name where each copy is (file:line): a slow path, taken only on the way
to the error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from goldpan.data.config import InputConfig
from goldpan.data.inputs import InputFile
from goldpan.data.readers import read_input
from goldpan.data.schema import ID, REJECT_FILE, REJECT_LINE
from goldpan.errors import GoldpanError
from goldpan.util.storage import read_parquet

EXAMPLES = 3


def ids_in_files(files: Sequence[Path]) -> pa.ChunkedArray:
    """The id column of the read stage's files of one unit (kept parts and rejects)."""
    chunks = [
        chunk for path in files for chunk in read_parquet(path, columns=[ID]).column(ID).chunks
    ]
    return pa.chunked_array(chunks, type=pa.string())


def repeated_ids(id_columns: Iterable[pa.Array | pa.ChunkedArray]) -> list[str]:
    """Ids that occur more than once across the columns, in sorted order."""
    chunks = [
        chunk
        for column in id_columns
        for chunk in (column.chunks if isinstance(column, pa.ChunkedArray) else [column])
    ]
    if not chunks:
        return []
    counts = pc.value_counts(pa.chunked_array(chunks, type=pa.string()))
    repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
    return sorted(repeated.to_pylist())


def locate_ids(
    units: Sequence[InputFile], indexes: set[int], config: InputConfig, wanted: pa.Array
) -> dict[str, list[str]]:
    """Where each wanted id occurs, as ``FILE:LINE`` (row numbers for columnar inputs), in
    input order."""
    places: dict[str, list[tuple[int, int, str]]] = {}
    for index in sorted(indexes):
        unit = units[index]
        for shaped, _ in read_input(unit, config):
            records, positions = shaped.records, shaped.positions
            if records.num_rows and positions is not None:
                mask = pc.is_in(records.column(ID), value_set=wanted)
                for record_id, line in zip(
                    records.column(ID).filter(mask).to_pylist(),
                    positions.filter(mask).to_pylist(),
                    strict=True,
                ):
                    places.setdefault(record_id, []).append((index, line, unit.label))
            rejects = shaped.rejects
            if rejects.num_rows:
                mask = pc.is_in(rejects.column(ID), value_set=wanted)
                for record_id, label, line in zip(
                    rejects.column(ID).filter(mask).to_pylist(),
                    rejects.column(REJECT_FILE).filter(mask).to_pylist(),
                    rejects.column(REJECT_LINE).filter(mask).to_pylist(),
                    strict=True,
                ):
                    places.setdefault(record_id, []).append((index, line, label))
    return {
        record_id: [f"{label}:{line}" for _, line, label in sorted(found)]
        for record_id, found in places.items()
    }


def check_unique_ids(
    ids_by_unit: Mapping[int, pa.Array | pa.ChunkedArray],
    units: Sequence[InputFile],
    config: InputConfig,
) -> None:
    """Raise a one-line error naming the repeated ids and where their copies are.
    ``ids_by_unit``: for each input unit, the ids of every record the read step wrote for it
    (kept and rejected)."""
    repeated = repeated_ids(ids_by_unit.values())
    if not repeated:
        return
    examples = pa.array(repeated[:EXAMPLES], pa.string())
    holding = {
        unit
        for unit, ids in ids_by_unit.items()
        if pc.any(pc.is_in(ids, value_set=examples)).as_py()
    }
    places = locate_ids(units, holding, config, examples)
    described = "; ".join(
        f"{record_id!r} at {' and '.join(places.get(record_id, ['(not found again)']))}"
        for record_id in examples.to_pylist()
    )
    raise GoldpanError(
        f"input.id_field {config.id_field!r}: {len(repeated)} id(s) occur more than once "
        f"({described}); ids must be unique: fix the input, or drop input.id_field to derive "
        "ids from file and line"
    )
