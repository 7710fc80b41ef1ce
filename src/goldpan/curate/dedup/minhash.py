"""``minhash_dedup``: near-duplicate removal with MinHash and LSH banding.

Each text becomes a set of word n-gram shingles (5 by default) after lower-casing and
deleting punctuation; each shingle a 64-bit hash. A signature holds, for each of b x r hash
functions, the minimum over the shingles (Broder 1997), which two documents share with a
probability equal to the Jaccard similarity of their shingle sets. Signatures are cut into b
bands of r rows; documents that agree on a whole band become candidates (Indyk and Motwani
1998). FineWeb uses 14 bands of 8 rows (112 hash functions), which finds pairs at Jaccard 0.75
with probability 0.77 and at 0.85 with probability 0.97.

The fit phase computes the signatures of a part, all documents at once with numpy, and writes
them to the stage's work folder. The merge reads one band at a time from every part, sorts the
band hashes to find equal runs, joins candidates into clusters with union-find, optionally
checks each candidate's true Jaccard similarity, and picks one record to keep per cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import regex
from pydantic import Field, model_validator

from goldpan.curate.hashing import MULTIPLIER, ngram_hashes, row_hashes
from goldpan.data.schema import ID, TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import (
    FitContext,
    GlobalStep,
    StepOptions,
    with_column,
    with_reject_reasons,
)
from goldpan.util.atomic import atomic_write_array, atomic_write_parquet
from goldpan.util.storage import load_array, read_parquet

# Words are maximal runs of characters that are neither ASCII whitespace, ASCII punctuation,
# nor one of the common typographic marks below; the same rule runs on UTF-8 bytes in numpy
# (``shingle_table``) and on strings in Python (``shingle_words``).
TYPOGRAPHIC = "“”‘’«»–—…•·„‚‹›"
_SEPARATOR_BYTES = np.zeros(256, dtype=bool)
_SEPARATOR_BYTES[[ord(c) for c in " \t\n\r\f\v"]] = True
_SEPARATOR_BYTES[[c for c in range(33, 127) if not chr(c).isalnum() and chr(c) != "_"]] = True
_SEPARATORS = regex.compile(
    "[\\s"
    + regex.escape(
        "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum() and chr(c) != "_")
    )
    + regex.escape(TYPOGRAPHIC)
    + "]+",
    flags=regex.ASCII,
)
_TYPOGRAPHIC_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in TYPOGRAPHIC) + "]"
_EMPTY_SIGNATURE = np.iinfo(np.uint32).max


class MinHashOptions(StepOptions):
    ngram: int = Field(5, ge=1, description="Words per shingle.")
    bands: int = Field(14, ge=1, description="LSH bands (b).")
    rows: int = Field(8, ge=1, description="Rows per band (r); b x r hash functions.")
    check_jaccard: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Keep a candidate pair only if its true shingle Jaccard reaches this.",
    )
    keep: Literal["first", "lowest_id", "longest"] = Field(
        "first", description="Which record of a cluster survives."
    )
    seed: int | None = Field(None, description="Hash seed (default: the recipe's seed).")

    @model_validator(mode="after")
    def _not_too_many(self) -> MinHashOptions:
        if self.bands * self.rows > 1024:
            raise ValueError("bands x rows above 1024 hash functions is not supported")
        return self


def shingle_words(text: str) -> list[str]:
    """The words shingles are made of: lower-cased, split at whitespace, ASCII punctuation and
    typographic marks ("E-mail: “yes”" -> ["e", "mail", "yes"])."""
    return [w for w in _SEPARATORS.split(text.lower()) if w]


def _word_hash(word: str) -> int:
    """The hash ``shingle_table`` computes from a word's UTF-8 bytes, for one word."""
    return int(
        _byte_hashes(
            np.frombuffer(word.encode(), dtype=np.uint8),
            np.array([0]),
            np.array([len(word.encode())]),
        )[0]
    )


def shingles(text: str, n: int) -> np.ndarray:
    """The distinct shingle hashes of one text; a text shorter than n words is one shingle."""
    words = shingle_words(text)
    if not words:
        return np.empty(0, dtype=np.uint64)
    ids = np.array([_word_hash(w) for w in words], dtype=np.uint64)
    return np.unique(ngram_hashes(ids, min(n, len(words))))


# Masks keeping the first k bytes of a little-endian 64-bit word, for k = 0..8.
_PREFIX_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], dtype=np.uint64)


def _byte_hashes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each byte run data[start:end], all runs at once.

    Each run is read eight bytes at a time as one little-endian word (a strided view of the
    bytes, so one gather per word and round), so the cost is one round for words up to eight
    bytes and grows with the longest word, not with the total number of bytes. The length seeds
    the hash, so a run and the same run followed by zero bytes differ."""
    lengths = (ends - starts).astype(np.int64)
    if not len(starts):
        return np.empty(0, dtype=np.uint64)
    padded = np.concatenate([data, np.zeros(8, dtype=np.uint8)])
    windows = np.lib.stride_tricks.as_strided(padded, shape=(len(data) + 1, 8), strides=(1, 1))
    hashes = lengths.astype(np.uint64) * MULTIPLIER
    active = np.arange(len(starts))
    offset = 0
    with np.errstate(over="ignore"):
        while len(active):
            word = windows[starts[active] + offset].view("<u8").ravel()
            word &= _PREFIX_MASKS[np.minimum(lengths[active] - offset, 8)]
            mixed = (hashes[active] ^ word) * MULTIPLIER
            mixed ^= mixed >> np.uint64(29)
            hashes[active] = mixed
            offset += 8
            active = active[lengths[active] > offset]
        hashes ^= hashes >> np.uint64(32)
        hashes *= MULTIPLIER
        hashes ^= hashes >> np.uint64(29)
    return hashes


def shingle_table(texts: pa.Array | pa.ChunkedArray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of a whole batch at once, concatenated, with each text's offsets.

    Lower-casing runs in Arrow; words are found and hashed on the UTF-8 bytes with numpy (no
    Python string per word); n-gram hashes are computed over the batch's words in one pass and
    those that cross a document boundary are dropped. Values repeat within a text when its
    n-grams do (the minimum does not care); ``shingles`` gives the distinct set of one text."""
    lowered = pc.replace_substring_regex(pc.utf8_lower(texts), _TYPOGRAPHIC_CLASS, " ")
    if isinstance(lowered, pa.ChunkedArray):
        lowered = lowered.combine_chunks()
    lowered = lowered.cast(pa.large_string())
    buffers = lowered.buffers()
    doc_offsets = np.frombuffer(buffers[1], dtype=np.int64)[
        lowered.offset : lowered.offset + len(lowered) + 1
    ]
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)
        if buffers[2] is not None
        else np.zeros(0, dtype=np.uint8)
    )
    data = data[doc_offsets[0] : doc_offsets[-1]]
    doc_offsets = doc_offsets - doc_offsets[0]
    word_byte = ~_SEPARATOR_BYTES[data]
    edges = np.diff(word_byte.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    # A word never spans two texts: cut where one text ends and the next begins inside a word.
    inner = np.unique(doc_offsets[1:-1])
    inner = inner[(inner > 0) & (inner < len(data))]
    cuts = inner[word_byte[inner - 1] & word_byte[inner]]
    if len(cuts):
        starts = np.sort(np.concatenate([starts, cuts]))
        ends = np.sort(np.concatenate([ends, cuts]))
    ids = _byte_hashes(data, starts, ends)
    word_offsets = np.searchsorted(starts, doc_offsets, side="left").astype(np.int64)
    counts = np.diff(word_offsets)
    grams = ngram_hashes(ids, n)
    full = np.maximum(counts - n + 1, 0)
    short = (counts > 0) & (counts < n)
    lengths = full + short
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.empty(offsets[-1], dtype=np.uint64)
    total_full = int(full.sum())
    if total_full:
        starts = np.repeat(word_offsets[:-1], full)
        within = np.arange(total_full) - np.repeat(np.cumsum(full) - full, full)
        targets = np.repeat(offsets[:-1], full) + within
        values[targets] = grams[starts + within]
    for doc in np.flatnonzero(short):
        first, last = word_offsets[doc], word_offsets[doc + 1]
        values[offsets[doc]] = ngram_hashes(ids[first:last], int(last - first))[0]
    return values, offsets


def text_blocks(
    texts: pa.Array | pa.ChunkedArray, block_bytes: int = 1 << 20
) -> list[tuple[int, int]]:
    """Row ranges of about ``block_bytes`` of text each (at least one row): shingling works on
    byte-sized temporaries, which stay in cache at this size and spill out of it for a whole
    part."""
    sizes = pc.binary_length(texts).to_numpy(zero_copy_only=False)
    sizes = np.nan_to_num(sizes.astype(np.float64)).astype(np.int64)
    ends = np.cumsum(sizes)
    ranges, start = [], 0
    while start < len(sizes):
        base = ends[start - 1] if start else 0
        stop = int(np.searchsorted(ends, base + block_bytes, side="right"))
        stop = max(stop, start + 1)
        ranges.append((start, stop))
        start = stop
    return ranges


def hash_parameters(count: int, seed: int) -> np.ndarray:
    """Multiply-shift hash functions h(x) = (a x mod 2^64) >> 32 with random odd a
    (Dietzfelbinger et al. 1997), one per signature row."""
    rng = np.random.default_rng(seed)
    return rng.integers(1, 2**63, size=count, dtype=np.uint64) | np.uint64(1)


def signatures(
    values: np.ndarray, offsets: np.ndarray, a: np.ndarray, block_bytes: int = 1 << 20
) -> np.ndarray:
    """MinHash signatures (documents x hash functions, uint32); empty texts get all-max.

    The shift commutes with the minimum, so each hash function costs one multiply and one
    segmented minimum per shingle, and the shift runs on the minima only. Work goes in blocks
    of whole documents whose products fit in ``block_bytes``: memory stays flat whatever the
    part size."""
    docs = len(offsets) - 1
    result = np.full((docs, len(a)), _EMPTY_SIGNATURE, dtype=np.uint32)
    lengths = np.diff(offsets)
    rows_per_block = max(1, block_bytes // (8 * len(a)))
    doc = 0
    with np.errstate(over="ignore"):
        while doc < docs:
            end = int(np.searchsorted(offsets, offsets[doc] + rows_per_block, side="right")) - 1
            end = max(end, doc + 1)
            members = np.arange(doc, end)
            members = members[lengths[doc:end] > 0]
            if len(members):
                block = values[offsets[doc] : offsets[end]]
                starts = offsets[members] - offsets[doc]
                step = max(1, min(len(a), block_bytes // max(1, 8 * len(block))))
                buffer = np.empty((len(block), step), dtype=np.uint64)
                for first in range(0, len(a), step):
                    width = min(step, len(a) - first)
                    products = buffer[:, :width]
                    np.multiply(block[:, None], a[None, first : first + width], out=products)
                    minima = np.minimum.reduceat(products, starts, axis=0)
                    result[members, first : first + width] = minima >> np.uint64(32)
            doc = end
    return result


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        parent = self.parent
        root = item
        while parent[root] != root:
            root = parent[root]
        while parent[item] != root:
            parent[item], item = root, parent[item]
        return root

    def union(self, left: int, right: int) -> None:
        a, b = self.find(left), self.find(right)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def jaccard(left: np.ndarray, right: np.ndarray) -> float:
    """Jaccard similarity of two shingle sets (given as arrays, repeats allowed)."""
    left, right = np.unique(left), np.unique(right)
    if not len(left) and not len(right):
        return 1.0
    common = len(np.intersect1d(left, right, assume_unique=True))
    return common / (len(left) + len(right) - common)


@register_step
class MinHashDedup(GlobalStep[MinHashOptions]):
    """Remove near-duplicates: MinHash signatures, LSH bands, clusters; one record kept each."""

    name = "minhash_dedup"
    text_side = "prompt"

    # ------------------------------------------------------------ fit: one part
    @staticmethod
    def _paths(context: FitContext, part_index: int) -> dict[str, Path]:
        return {
            **{
                kind: context.part_file(part_index, f".{kind}.npy")
                for kind in ("sig", "shingles", "offsets")
            },
            "meta": context.part_file(part_index, ".meta.parquet"),
        }

    def fit_part(self, batch: pa.Table, part_index: int, context: FitContext) -> int:
        o = self.options
        a = hash_parameters(o.bands * o.rows, self.seed if o.seed is None else o.seed)
        texts = batch.column(TEXT)
        signature_blocks, value_blocks, offset_blocks = [], [], [np.zeros(1, dtype=np.int64)]
        for start, stop in text_blocks(texts):
            values, offsets = shingle_table(texts.slice(start, stop - start), o.ngram)
            signature_blocks.append(signatures(values, offsets, a))
            if o.check_jaccard is not None:
                value_blocks.append(values)
                offset_blocks.append(offsets[1:] + offset_blocks[-1][-1])
        paths = self._paths(context, part_index)
        atomic_write_array(
            paths["sig"], np.concatenate(signature_blocks or [np.zeros((0, len(a)), np.uint32)])
        )
        if o.check_jaccard is not None:
            atomic_write_array(paths["shingles"],
                               np.concatenate(value_blocks or [np.zeros(0, np.uint64)]))
            atomic_write_array(paths["offsets"], np.concatenate(offset_blocks))
        lengths = pc.utf8_length(batch.column(TEXT))
        atomic_write_parquet(pa.table({ID: batch.column(ID), "length": lengths}), paths["meta"])
        return batch.num_rows

    # ------------------------------------------------------------ merge: all parts
    def _candidate_pairs(self, counts: Sequence[int], context: FitContext) -> np.ndarray:
        """Pairs of global row numbers that share a band, deduplicated (band by band, so only
        one band of every signature is in memory at a time)."""
        o = self.options
        starts = np.concatenate([[0], np.cumsum(counts)])
        pairs = []
        for band in range(o.bands):
            columns = slice(band * o.rows, (band + 1) * o.rows)
            keys, rows = [], []
            for part_index, count in enumerate(counts):
                if not count:
                    continue
                sig = load_array(self._paths(context, part_index)["sig"], mmap_mode="r")[:, columns]
                usable = ~(sig == _EMPTY_SIGNATURE).all(axis=1)
                keys.append(row_hashes(np.asarray(sig[usable])))
                rows.append(np.flatnonzero(usable) + starts[part_index])
            if not keys:
                continue
            key, row = np.concatenate(keys), np.concatenate(rows)
            order = np.argsort(key, kind="stable")
            key, row = key[order], row[order]
            same = np.flatnonzero(key[1:] == key[:-1]) + 1
            if not len(same):
                continue
            # Each member of a run pairs with the run's first member (a star, not a chain), so
            # a Jaccard check compares every candidate with the same representative.
            run_start = np.maximum.accumulate(
                np.where(np.r_[True, key[1:] != key[:-1]], np.arange(len(key)), 0)
            )
            pairs.append(np.stack([row[run_start[same]], row[same]], axis=1))
        if not pairs:
            return np.empty((0, 2), dtype=np.int64)
        return np.unique(np.concatenate(pairs), axis=0)

    def _shingles_of(self, counts: Sequence[int], context: FitContext):
        starts = np.concatenate([[0], np.cumsum(counts)])
        cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

        def lookup(row: int) -> np.ndarray:
            part = int(np.searchsorted(starts, row, side="right") - 1)
            if part not in cache:
                paths = self._paths(context, part)
                cache[part] = (load_array(paths["shingles"], mmap_mode="r"),
                               load_array(paths["offsets"]))
            values, offsets = cache[part]
            local = row - starts[part]
            return np.asarray(values[offsets[local] : offsets[local + 1]])

        return lookup

    def merge(
        self, summaries: Sequence[int], context: FitContext
    ) -> dict[str, tuple[str, bool]]:
        o = self.options
        counts = list(summaries)
        pairs = self._candidate_pairs(counts, context)
        union = _UnionFind(int(sum(counts)))
        lookup = self._shingles_of(counts, context) if o.check_jaccard is not None else None
        for left, right in pairs.tolist():
            if (lookup is not None and o.check_jaccard is not None
                    and jaccard(lookup(left), lookup(right)) < o.check_jaccard):
                continue
            union.union(left, right)
        clusters: dict[int, list[int]] = {}
        for row in {row for pair in pairs.tolist() for row in pair}:
            clusters.setdefault(union.find(row), []).append(row)
        clusters = {root: rows for root, rows in clusters.items() if len(rows) > 1}
        if not clusters:
            return {}
        meta = pa.concat_tables(
            [
                read_parquet(self._paths(context, i)["meta"])
                for i, count in enumerate(counts)
                if count
            ]
        )
        ids = meta.column(ID).to_pylist()
        lengths = meta.column("length").to_pylist()
        state: dict[str, tuple[str, bool]] = {}
        for rows in clusters.values():
            keeper = min(rows, key=lambda r: self._rank(r, ids[r], lengths[r]))
            for row in rows:
                state[ids[row]] = (ids[keeper], row == keeper)
        return state

    def _rank(self, row: int, record_id: str, length: int) -> tuple[Any, ...]:
        keep = self.options.keep
        if keep == "lowest_id":
            return (record_id,)
        if keep == "longest":
            return (-length, row)
        return (row,)

    # ------------------------------------------------------------ apply: one part
    def apply(self, batch: pa.Table, state: dict[str, tuple[str, bool]]) -> pa.Table:
        clusters: list[str | None] = []
        duplicate_of: list[str | None] = []
        reasons: list[str | None] = []
        for record_id in batch.column(ID).to_pylist():
            entry = state.get(record_id)
            clusters.append(entry[0] if entry is not None else None)
            is_copy = entry is not None and not entry[1]
            duplicate_of.append(entry[0] if entry is not None and is_copy else None)
            reasons.append(self.reason("near_duplicate") if is_copy else None)
        batch = with_column(batch, "minhash_cluster", pa.array(clusters, pa.string()))
        batch = with_column(batch, "reject_duplicate_of", pa.array(duplicate_of, pa.string()))
        return with_reject_reasons(batch, reasons)
