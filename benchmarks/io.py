"""I/O throughput: goldpan's pipeline of no-op steps against plain pyarrow (the limit).

Both sides read the same shards and write Parquet with the same codec. The limit is
``pyarrow.json.read_json`` (or ``pq.read_table``) followed by ``pq.write_table`` per shard:
no ids, no ledger, no rejects, no resume. goldpan runs a recipe of two no-op map steps
(``length_filter`` without bounds), with everything a real run does.

    python benchmarks/io.py [--copies 4] [--shards 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.json as pa_json
import pyarrow.parquet as pq

from goldpan.data.demo_corpus import build_demo_corpus
from goldpan.engine.runner import run_recipe
from goldpan.recipe import parse_recipe


def make_shards(folder: Path, copies: int, shards: int) -> tuple[list[Path], list[Path]]:
    """The demo corpus repeated ``copies`` times (fresh ids), split into JSONL and Parquet."""
    corpus = folder / "corpus.jsonl"
    build_demo_corpus(corpus)
    lines = corpus.read_bytes().splitlines()
    documents = []
    for copy in range(copies):
        for line in lines:
            doc = json.loads(line)
            doc["id"] = f"{copy}-{doc['id']}"
            documents.append(doc)
    jsonl, parquet = [], []
    size = -(-len(documents) // shards)
    for index in range(shards):
        chunk = documents[index * size : (index + 1) * size]
        path = folder / "jsonl" / f"shard-{index:03d}.jsonl"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"".join(json.dumps(d).encode() + b"\n" for d in chunk))
        jsonl.append(path)
        table = pa_json.read_json(path)
        target = folder / "parquet" / f"shard-{index:03d}.parquet"
        target.parent.mkdir(exist_ok=True)
        pq.write_table(table, target, compression="zstd")
        parquet.append(target)
    return jsonl, parquet


def limit(paths: list[Path], out: Path, fmt: str) -> float:
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for path in paths:
        table = pa_json.read_json(path) if fmt == "jsonl" else pq.read_table(path)
        pq.write_table(table, out / f"{path.stem}.parquet", compression="zstd")
    return time.perf_counter() - started


def ours(paths: list[Path], out: Path, fmt: str, workers: int) -> float:
    recipe = parse_recipe(
        {
            "input": {"paths": [str(p) for p in paths], "format": fmt, "id_field": "id"},
            # The report is timed on its own (benchmarks/report.py), not as part of I/O.
            "output": {"dir": str(out), "format": "parquet", "report": False},
            "workers": workers,
            "steps": [{"name": "length_filter"}, {"name": "length_filter"}],
        }
    )
    started = time.perf_counter()
    run_recipe(recipe)
    return time.perf_counter() - started


def shard_arguments(description: str) -> argparse.ArgumentParser:
    """The data and worker options of this benchmark and of those built on it (storage.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    return parser


def main() -> None:
    args = shard_arguments(__doc__.splitlines()[0]).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jsonl, parquet = make_shards(folder, args.copies, args.shards)
        records = sum(pq.ParquetFile(p).metadata.num_rows for p in parquet)
        print(
            f"{records:,} records in {args.shards} shards, {args.workers} workers, "
            f"best of {args.repeats}"
        )
        print(
            f"{'format':<8} {'MB':>7} {'ours rec/s':>12} {'ours MB/s':>10} "
            f"{'limit rec/s':>12} {'limit MB/s':>11} {'ratio':>6}"
        )
        for fmt, paths in (("jsonl", jsonl), ("parquet", parquet)):
            megabytes = sum(p.stat().st_size for p in paths) / 1e6
            ours_times, limit_times = [], []
            for repeat in range(args.repeats):
                limit_times.append(limit(paths, folder / f"limit-{fmt}-{repeat}", fmt))
                ours_times.append(ours(paths, folder / f"ours-{fmt}-{repeat}", fmt, args.workers))
                shutil.rmtree(folder / f"limit-{fmt}-{repeat}")
                shutil.rmtree(folder / f"ours-{fmt}-{repeat}")
            best_ours, best_limit = min(ours_times), min(limit_times)
            print(
                f"{fmt:<8} {megabytes:>7.0f} {records / best_ours:>12,.0f} "
                f"{megabytes / best_ours:>10.1f} {records / best_limit:>12,.0f} "
                f"{megabytes / best_limit:>11.1f} {best_limit / best_ours:>6.2f}"
            )


if __name__ == "__main__":
    main()
