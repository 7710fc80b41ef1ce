"""Token shards a trainer reads: one shard per part of the last stage, each

- ``part-NNNNN.bin``: the documents' token ids end to end (uint16 for a vocabulary below 65,500
  entries, as Megatron chooses, else int32), a flat array ``numpy.memmap`` reads;
- ``part-NNNNN.idx``: Megatron's indexed-dataset index (megatron-core
  ``datasets/indexed_dataset.py``: ``MMIDIDX`` header, version 1, dtype code, sequence and
  document counts, int32 lengths, int64 byte pointers, int64 document indices), one sequence a
  document, so ``IndexedDataset("part-NNNNN")`` opens the shard;
- ``part-NNNNN.docs.parquet``: the document boundary index: each document's ``id``,
  ``source``, first token (``start``) and ``length``, in shard order.

Chat records add ``part-NNNNN.mask.bin``/``.mask.idx``: the assistant-only loss mask as a second
indexed dataset of uint8 (1: the loss counts the token) with the same sizes. With ``pack``, the
documents of a shard are packed best-fit-decreasing into sequences of at most ``max_tokens``:
the ``.bin`` holds them pack by pack, and the ``.idx`` keeps every document as one of Megatron's
sequences while its document index marks where each pack starts (a pack is Megatron's
"document", made of sequences), so a trainer reads whole packs and can still reset attention at
each document boundary; ``docs.parquet`` names each document's ``pack``.

``manifest.json`` holds the dtype, the tokenizer, and token and document counts per shard
and per source; ``shuffle.npy`` (when asked) a seeded permutation of the document numbers
(shards in order, documents in shard order): a trainer reads documents in that order, and the
bytes stay where they are. ``check_token_shards`` re-reads everything and checks the counts.
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from goldpan.data.schema import ID, LOSS_MASK, SOURCE, TOKENS
from goldpan.util.atomic import atomic_write_bytes, atomic_write_parquet
from goldpan.util.storage import load_array, local_copy, read_parquet

MANIFEST = "manifest.json"
SHUFFLE = "shuffle.npy"
MEGATRON_HEADER = b"MMIDIDX\x00\x00"
# megatron-core's DType codes (datasets/indexed_dataset.py).
MEGATRON_DTYPE_CODES = {"uint8": 1, "uint16": 8, "int32": 4}


def megatron_index(lengths: np.ndarray, dtype: np.dtype,
                   document_starts: np.ndarray | None = None) -> bytes:
    """The .idx of sequences of these lengths; ``document_starts``: the sequence each Megatron
    document starts at (none: one document per sequence)."""
    count = len(lengths)
    pointers = np.zeros(count, np.int64)
    if count:
        pointers[1:] = np.cumsum(lengths[:-1].astype(np.int64)) * dtype.itemsize
    documents = (np.arange(count + 1, dtype=np.int64) if document_starts is None
                 else np.append(document_starts, count).astype(np.int64))
    return b"".join([
        MEGATRON_HEADER,
        struct.pack("<Q", 1),
        struct.pack("<B", MEGATRON_DTYPE_CODES[dtype.name]),
        struct.pack("<Q", count),
        struct.pack("<Q", len(documents)),
        lengths.astype(np.int32).tobytes(),
        pointers.tobytes(),
        documents.tobytes(),
    ])


def write_token_shards(
    part_paths: list[Path], out_dir: Path, *, seed: int, shuffle: bool,
    tokenizer: str | None, append_eos: bool, pack_tokens: int | None = None,
) -> list[str]:
    """Shards of the parts' ``tokens`` column (and ``loss_mask``), the manifest and the
    shuffle; the file names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = [_token_columns(p) for p in part_paths]
    dtypes = {_token_dtype(t) for t in tables}
    if len(dtypes) > 1:
        raise ValueError(f"token parts disagree on their dtype: {sorted(d.name for d in dtypes)}")
    dtype = dtypes.pop() if dtypes else np.dtype(np.uint16)
    tables = [t for t in tables if t.num_rows]
    names: list[str] = []
    shards: list[dict[str, Any]] = []
    by_source: dict[str, Counter[str]] = {}
    packs = 0
    masked = bool(tables) and LOSS_MASK in tables[0].column_names
    for index, table in enumerate(tables):
        stem = f"part-{index:05d}"
        pack_starts = None
        if pack_tokens is not None:
            _, sizes = _token_bytes(table.column(TOKENS), dtype)
            order, pack_of = best_fit_decreasing(sizes, pack_tokens)
            table = table.take(pa.array(order, pa.int64())).append_column(
                "pack", pa.array(pack_of + packs, pa.int64()))
            pack_starts = np.flatnonzero(np.diff(pack_of, prepend=-1))
            packs += len(pack_starts)
        data, lengths = _token_bytes(table.column(TOKENS), dtype)
        starts = np.zeros(len(lengths), np.int64)
        starts[1:] = np.cumsum(lengths[:-1].astype(np.int64))
        # Not fsynced one by one: the output's _SUCCESS marker, written last, vouches for them.
        atomic_write_bytes(out_dir / f"{stem}.bin", data, fsync=False)
        atomic_write_bytes(out_dir / f"{stem}.idx", megatron_index(lengths, dtype, pack_starts),
                           fsync=False)
        names += [f"{stem}.bin", f"{stem}.idx"]
        if masked:
            mask_data, mask_lengths = _token_bytes(table.column(LOSS_MASK), np.dtype(np.uint8))
            if not np.array_equal(mask_lengths, lengths):
                raise ValueError(f"{stem}: loss masks and tokens differ in length")
            atomic_write_bytes(out_dir / f"{stem}.mask.bin", mask_data, fsync=False)
            atomic_write_bytes(out_dir / f"{stem}.mask.idx",
                               megatron_index(lengths, np.dtype(np.uint8), pack_starts),
                               fsync=False)
            names += [f"{stem}.mask.bin", f"{stem}.mask.idx"]
        sources = table.column(SOURCE).to_pylist()
        docs = {ID: table.column(ID), SOURCE: table.column(SOURCE),
                "start": pa.array(starts, pa.int64()), "length": pa.array(lengths, pa.int32())}
        if pack_tokens is not None:
            docs["pack"] = table.column("pack")
        atomic_write_parquet(pa.table(docs), out_dir / f"{stem}.docs.parquet")
        shard_sources: dict[str, Counter[str]] = {}
        for source, length in zip(sources, lengths.tolist(), strict=True):
            for totals in (shard_sources, by_source):
                counts = totals.setdefault(source or "", Counter())
                counts["documents"] += 1
                counts["tokens"] += length
        shards.append({"name": stem, "documents": len(lengths), "tokens": int(lengths.sum()),
                       "by_source": {s: dict(c) for s, c in sorted(shard_sources.items())}})
        names.append(f"{stem}.docs.parquet")
    documents = sum(s["documents"] for s in shards)
    tokens = sum(s["tokens"] for s in shards)
    if shuffle:
        units = packs if pack_tokens is not None else documents
        order = np.random.default_rng(seed).permutation(units).astype(np.int64)
        atomic_write_bytes(out_dir / SHUFFLE, _npy(order), fsync=False)
        names.append(SHUFFLE)
    manifest = {
        "format": "goldpan-tokens/1",
        "dtype": dtype.name,
        "tokenizer": tokenizer,
        "append_eos": append_eos,
        "documents": documents,
        "tokens": tokens,
        "loss_mask": masked,
        "packing": None if pack_tokens is None else {
            "strategy": "best-fit-decreasing", "max_tokens": pack_tokens, "packs": packs,
            # The share of the packs' room that holds tokens (the rest is padding).
            "efficiency": round(tokens / (packs * pack_tokens), 6) if packs else None,
        },
        "shuffle": SHUFFLE if shuffle else None,
        "seed": seed,
        "shards": shards,
        "by_source": {s: dict(c) for s, c in sorted(by_source.items())},
    }
    atomic_write_bytes(out_dir / MANIFEST, json.dumps(manifest, indent=2).encode())
    return [*names, MANIFEST]


def _token_columns(path: Path) -> pa.Table:
    from goldpan.util.storage import parquet_schema

    names = parquet_schema(path).names
    return read_parquet(path, columns=[ID, SOURCE, TOKENS] + ([LOSS_MASK] if LOSS_MASK in names
                                                             else []))


def best_fit_decreasing(lengths: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Documents packed into bins of ``capacity`` tokens: longest first, each into the bin it
    fills best (the least room left that still fits it), as TRL's ``pack_dataset`` strategy
    "bfd" does. Returns the documents in pack order and each one's pack number (packs numbered
    by their first document, documents in a pack longest first)."""
    import bisect

    order = np.argsort(-lengths, kind="stable")
    rooms: list[tuple[int, int]] = []  # (room left, bin), sorted
    bins: list[list[int]] = []
    for document in order.tolist():
        size = int(lengths[document])
        at = bisect.bisect_left(rooms, (size, -1))
        if at < len(rooms):
            room, chosen = rooms.pop(at)
        else:
            room, chosen = capacity, len(bins)
            bins.append([])
        bins[chosen].append(document)
        if room - size > 0:
            bisect.insort(rooms, (room - size, chosen))
    placed = np.array([d for b in bins for d in b], np.int64)
    pack_of = np.repeat(np.arange(len(bins), dtype=np.int64), [len(b) for b in bins])
    return placed, pack_of


def _token_dtype(table: pa.Table) -> np.dtype:
    """The dtype the tokenize step wrote the ids in (its column's metadata)."""
    metadata = table.schema.field(TOKENS).metadata or {}
    if b"dtype" not in metadata:
        raise ValueError("the tokens column names no dtype: the parts were not written by the "
                         "tokenize step of this goldpan version")
    return np.dtype(metadata[b"dtype"].decode())


def _token_bytes(column: pa.ChunkedArray, dtype: np.dtype) -> tuple[memoryview, np.ndarray]:
    """The ids of a part end to end (its binary column's data, not copied) and each
    document's length in tokens."""
    array = column.combine_chunks()
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int64)[array.offset : array.offset + len(array) + 1]
    data = memoryview(data_buffer)[offsets[0] : offsets[-1]] if len(array) else memoryview(b"")
    return data, (np.diff(offsets) // dtype.itemsize).astype(np.int64)


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def check_token_shards(out_dir: Path) -> list[str]:
    """Problems found by re-reading every shard against the manifest (none: all agree)."""
    manifest = json.loads((out_dir / MANIFEST).read_text())
    dtype = np.dtype(manifest["dtype"])
    problems = []
    documents = units = 0
    for shard in manifest["shards"]:
        stem = shard["name"]
        tokens: Any = (np.memmap(local_copy(out_dir / f"{stem}.bin"), dtype=dtype, mode="r")
                       if shard["tokens"] else [])
        docs = read_parquet(out_dir / f"{stem}.docs.parquet")
        lengths = docs.column("length").to_numpy()
        index = (out_dir / f"{stem}.idx").read_bytes()
        pack_starts = None
        if "pack" in docs.column_names:
            pack_starts = np.flatnonzero(np.diff(docs.column("pack").to_numpy(), prepend=-1))
            units += len(pack_starts)
        expected = megatron_index(lengths, dtype, pack_starts)
        if manifest.get("loss_mask"):
            mask_index = (out_dir / f"{stem}.mask.idx").read_bytes()
            mask_size = (out_dir / f"{stem}.mask.bin").stat().st_size
            if (mask_index != megatron_index(lengths, np.dtype(np.uint8), pack_starts)
                    or mask_size != shard["tokens"]):
                problems.append(f"{stem}: the loss mask does not match the tokens' sizes")
        if len(tokens) != shard["tokens"] or int(lengths.sum()) != shard["tokens"]:
            problems.append(f"{shard['name']}: {len(tokens)} tokens in .bin, "
                            f"{int(lengths.sum())} in its documents, {shard['tokens']} listed")
        if docs.num_rows != shard["documents"]:
            problems.append(f"{shard['name']}: {docs.num_rows} documents, "
                            f"{shard['documents']} listed")
        if index != expected:
            problems.append(f"{shard['name']}: the .idx does not match the documents' lengths")
        documents += docs.num_rows
    if documents != manifest["documents"]:
        problems.append(f"{documents} documents in the shards, {manifest['documents']} listed")
    if manifest.get("shuffle"):
        order = load_array(out_dir / manifest["shuffle"])
        count = units if manifest.get("packing") else documents
        if not np.array_equal(np.sort(order), np.arange(count)):
            problems.append("shuffle.npy is not a permutation of the documents (or packs)")
    return problems
