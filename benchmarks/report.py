"""Run analysis: goldpan's report against Data-Juicer's analyzer, and the inspector's latency.

One curation run is built first: real documents from the embedded corpus, replicated to
--records records (most copies made unique by a numbered sentence, so exact_dedup still finds
clusters), each with numeric columns shaped like real ones (lang_score, s_score,
quality_score, n_tokens), filtered by length and deduplicated.

Then, each in its own subprocess (so peak RSS is its own), with libraries imported before
the clock:
- goldpan: `write_report(run_dir)`, the whole page: funnel, rejects, sources, tokens, a
  histogram of lengths and of every numeric column (kept against rejected), scores per source,
  duplicate clusters, samples. It reads the run's Parquet files and counts lengths itself.
- Data-Juicer: the analysis phase of its Analyzer (OverallAnalysis, ColumnWiseAnalysis with a
  histogram and a box plot per stat, CorrelationAnalysis), given the same numbers for every
  record already computed (text length, word count and the four numeric columns) in its
  `__dj__stats__` field, as its ops leave them.
Both see every record (kept and rejected). Printed: seconds, peak RSS, the ratio; and the
inspector's latency (HTTP, HTML pages) for typical requests on the same run.

    python benchmarks/report.py [--records 200000]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_memory import peak_rss_mb

NUMERIC = ("lang_score", "s_score", "quality_score", "n_tokens")


def build_run(folder: Path, records: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from goldpan.data.demo_corpus import build_demo_corpus
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    corpus = folder / "corpus.jsonl"
    build_demo_corpus(corpus)
    base = [json.loads(line) for line in corpus.read_text().split("\n") if line]
    rng = random.Random(0)
    rows: dict[str, list] = {"id": [], "text": [], "source": [], **{c: [] for c in NUMERIC}}
    for index in range(records):
        doc = base[index % len(base)]
        text = doc["text"]
        if index >= len(base) and rng.random() < 0.8:
            text += f" Note {index}."
        words = len(text.split())
        rows["id"].append(f"doc-{index:08d}")
        rows["text"].append(text)
        rows["source"].append(doc["source"])
        rows["lang_score"].append(min(1.0, max(0.0, rng.betavariate(8, 1))))
        rows["s_score"].append(rng.gauss(0.05, 0.4))
        rows["quality_score"].append(rng.betavariate(2, 5))
        rows["n_tokens"].append(int(words * rng.uniform(1.2, 1.4)))
    pq.write_table(pa.table(rows), folder / "input.parquet", row_group_size=20_000)
    recipe = {
        "input": {"paths": [str(folder / "input.parquet")], "id_field": "id"},
        "output": {"dir": str(folder / "run"), "format": "parquet", "report": False},
        "steps": [{"name": "length_filter", "min_words": 20}, {"name": "exact_dedup"}],
    }
    run_recipe(parse_recipe(recipe))
    return folder / "run"


def measure_goldpan(run_dir: Path) -> dict:
    from goldpan.report import write_report

    started = time.perf_counter()
    path = write_report(run_dir, run_dir / "bench-report.html")
    return {"seconds": time.perf_counter() - started, "bytes": path.stat().st_size}


def measure_data_juicer(run_dir: Path) -> dict:
    import datasets
    import duckdb
    import matplotlib

    matplotlib.use("Agg")
    from data_juicer.analysis import ColumnWiseAnalysis, CorrelationAnalysis, OverallAnalysis
    from data_juicer.utils.constant import Fields

    from goldpan.engine.rundir import RunDir

    run = RunDir(run_dir)
    files = [str(p) for p in run.kept_parts() + run.reject_parts()]
    listed = ", ".join(f"'{f}'" for f in files)
    numeric = ", ".join(NUMERIC)
    table = duckdb.sql(
        f"SELECT length(text) AS text_len, length(regexp_extract_all(text, '\\S+')) AS num_words,"
        f" {numeric} FROM read_parquet([{listed}], union_by_name = true)"
    ).to_arrow_table()
    stats = table.to_pylist()
    dataset = datasets.Dataset.from_dict({Fields.stats: stats, Fields.meta: [{}] * len(stats)})
    out = run_dir / "data-juicer-analysis"
    started = time.perf_counter()
    overall = OverallAnalysis(dataset, str(out)).analyze(percentiles=[], num_proc=1)
    ColumnWiseAnalysis(dataset, str(out), overall_result=overall).analyze()
    CorrelationAnalysis(dataset, str(out)).analyze()
    return {"seconds": time.perf_counter() - started, "records": len(stats)}


def measure_inspector(run_dir: Path) -> dict:
    from fastapi.testclient import TestClient

    from goldpan.report.inspector import create_app

    records = json.loads((run_dir / "stats.json").read_text())["stages"][0]["records_in"]
    started = time.perf_counter()
    client = TestClient(create_app(run_dir))
    timings = {"start (facets, ranges)": time.perf_counter() - started}
    requests = {
        "first page": "/",
        "rejected, one reason": "/?status=rejected&reason=exact_dedup:duplicate",
        "text search": "/?q=river",
        "phrase search + source": '/?q="the city"&source=wikipedia_en',
        "sort by s_score": "/?sort=s_score&order=desc",
        "score range": "/?min:s_score=0.5&max:quality_score=0.2",
        "a page in the middle": f"/?page={max(1, records // 100)}",
        "record page": "/record?id=doc-00000042",
    }
    for name, url in requests.items():
        client.get(url)  # warm: the first touch reads the Parquet footers
        best = float("inf")
        for _ in range(3):
            began = time.perf_counter()
            response = client.get(url)
            best = min(best, time.perf_counter() - began)
            assert response.status_code == 200, (url, response.text[:200])
        timings[name] = best
    return {"seconds": timings}


SIDES = {"goldpan": measure_goldpan, "data-juicer": measure_data_juicer,
         "inspector": measure_inspector}


def run_side(side: str, run_dir: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--side", side, "--run", str(run_dir)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{side} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--side", choices=sorted(SIDES))
    parser.add_argument("--run", type=Path)
    args = parser.parse_args()
    if args.side:
        result = SIDES[args.side](args.run)
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        run_dir = build_run(Path(tmp), args.records)
        stats = json.loads((run_dir / "stats.json").read_text())
        print(f"run of {args.records:,} records built in {time.perf_counter() - began:.0f} s: "
              f"{stats['output']['records']:,} kept")
        ours = run_side("goldpan", run_dir)
        theirs = run_side("data-juicer", run_dir)
        print(f"goldpan report:        {ours['seconds']:6.2f} s, peak RSS "
              f"{ours['peak_rss_mb']:,.0f} MB, page {ours['bytes'] / 1e3:,.0f} kB")
        print(f"Data-Juicer analysis:  {theirs['seconds']:6.2f} s, peak RSS "
              f"{theirs['peak_rss_mb']:,.0f} MB ({theirs['records']:,} records)")
        print(f"speed-up: {theirs['seconds'] / ours['seconds']:.1f}x")
        inspector = run_side("inspector", run_dir)
        print("inspector latency (best of 3, HTML page over HTTP):")
        for name, seconds in inspector["seconds"].items():
            print(f"  {name:<26} {1000 * seconds:8.1f} ms")
        print(f"  peak RSS {inspector['peak_rss_mb']:,.0f} MB")


if __name__ == "__main__":
    main()
