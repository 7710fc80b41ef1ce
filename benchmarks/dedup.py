"""Near-duplicate detection: goldpan's minhash_dedup against datasketch (MinHash + MinHashLSH).

A near-duplicate set with known ground truth is built from real documents (Wikipedia
summaries and news articles from the embedded packages): a third of the originals get one to
three copies with random word insertions, deletions and swaps at varied rates. A pair is a
true duplicate when the exact Jaccard similarity of its word 5-gram shingle sets is at least
--threshold. Both sides use the same shingles, 112 permutations and 14 bands of 8 rows; both run
in one process (goldpan with workers=1, a full recipe run with reading, ledger and output;
also with two workers, and with the exact Jaccard check). Library imports happen before the
clock on both sides.
Each measurement runs in a fresh subprocess so that peak RSS is its own, --repeats times with
hash seeds 0, 1, ...: accuracy is the mean over seeds, speed the fastest run. Printed:
precision, recall and F1 over pairs, documents/s, and peak RSS at N and 2N originals.

    python benchmarks/dedup.py [--originals 8000] [--threshold 0.8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from goldpan.curate.dedup.minhash import jaccard, shingle_words, shingles
from goldpan.data.demo_corpus import news, wikipedia
from peak_memory import peak_rss_mb


def edited(words: list[str], rng: random.Random, edits: int, donor: list[str]) -> list[str]:
    words = list(words)
    for _ in range(edits):
        kind = rng.choice(("insert", "delete", "swap"))
        position = rng.randrange(1, max(2, len(words) - 1))
        if kind == "insert":
            words.insert(position, rng.choice(donor))
        elif kind == "delete" and len(words) > 3:
            del words[position]
        elif position + 1 < len(words):
            words[position], words[position + 1] = words[position + 1], words[position]
    return words


def build(path: Path, originals: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    texts = [d["text"] for d in news()]
    texts += [d["text"] for language in ("en", "fr", "es") for d in wikipedia(language)]
    texts = list({t: None for t in texts if len(t.split()) >= 40})
    rng.shuffle(texts)
    base = texts[:originals]
    donor = " ".join(texts[-200:]).split()
    rows = []
    for index, text in enumerate(base):
        rows.append({"id": f"{index:06d}-0", "text": text, "origin": index})
        if rng.random() < 1 / 3:
            for copy in range(1, rng.randint(1, 3) + 1):
                rate = rng.choice((0.0, 0.005, 0.01, 0.02, 0.04, 0.08))
                words = edited(text.split(), rng, int(len(text.split()) * rate), donor)
                rows.append({"id": f"{index:06d}-{copy}", "text": " ".join(words), "origin": index})
    rng.shuffle(rows)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


def true_pairs(path: Path, threshold: float) -> set[tuple[str, str]]:
    groups: dict[int, list[tuple[str, str]]] = {}
    for line in path.open("rb"):
        row = orjson.loads(line)
        groups.setdefault(row["origin"], []).append((row["id"], row["text"]))
    pairs = set()
    for members in groups.values():
        for (a, ta), (b, tb) in itertools.combinations(sorted(members), 2):
            if jaccard(shingles(ta, 5), shingles(tb, 5)) >= threshold:
                pairs.add((a, b))
    return pairs


def clusters_to_pairs(clusters: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {p for members in clusters.values() for p in itertools.combinations(sorted(members), 2)}


def run_ours(
    path: Path, out: Path, workers: int = 1, check: float | None = None, seed: int = 0
) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from goldpan.engine.executors import warm_imports
    from goldpan.engine.registry import registered_steps
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    recipe = parse_recipe(
        {
            "input": {"paths": [str(path)], "id_field": "id"},
            # The report is timed on its own (benchmarks/report.py), not as part of dedup.
            "output": {"dir": str(out), "report": False},
            "workers": workers,
            "seed": seed,
            "steps": [
                {
                    "name": "minhash_dedup",
                    "ngram": 5,
                    "bands": 14,
                    "rows": 8,
                    "check_jaccard": check,
                }
            ],
        }
    )
    # Libraries are imported before the clock on both sides (datasketch's too).
    warm_imports()
    registered_steps()
    started = time.perf_counter()
    run_recipe(recipe)
    seconds = time.perf_counter() - started
    tables = [pq.read_table(p) for p in sorted((out / "output").glob("*.parquet"))]
    tables += [pq.read_table(p) for p in sorted((out / "rejects").rglob("*.parquet"))]
    clusters: dict[str, list[str]] = {}
    for table in tables:
        if "minhash_cluster" not in table.column_names:
            continue
        table = table.filter(pa.compute.is_valid(table.column("minhash_cluster")))
        for record_id, cluster in zip(
            table.column("id").to_pylist(), table.column("minhash_cluster").to_pylist(), strict=True
        ):
            clusters.setdefault(cluster, []).append(record_id)
    return {"seconds": seconds, "clusters": clusters}


def run_datasketch(path: Path, seed: int = 0) -> dict:
    from datasketch import MinHash, MinHashLSH

    rows = [orjson.loads(line) for line in path.open("rb")]
    started = time.perf_counter()
    lsh = MinHashLSH(num_perm=112, params=(14, 8))
    signatures = {}
    for row in rows:
        words = shingle_words(row["text"])
        n = min(5, len(words))
        grams = {" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)}
        minhash = MinHash(num_perm=112, seed=seed + 1)
        minhash.update_batch(list(grams))
        signatures[row["id"]] = minhash
        lsh.insert(row["id"], minhash)
    parent = {row["id"]: row["id"] for row in rows}

    def find(item: str) -> str:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for record_id, minhash in signatures.items():
        for other in lsh.query(minhash):
            a, b = find(record_id), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    seconds = time.perf_counter() - started
    clusters: dict[str, list[str]] = {}
    for record_id in parent:
        clusters.setdefault(find(record_id), []).append(record_id)
    return {"seconds": seconds, "clusters": {k: v for k, v in clusters.items() if len(v) > 1}}


TOOLS = ("goldpan-1", "goldpan-2", "goldpan-2+check", "datasketch")


def run_tool(tool: str, path: Path, out: Path, seed: int) -> dict:
    if tool == "datasketch":
        return run_datasketch(path, seed)
    workers = int(tool.split("-")[1].split("+")[0])
    return run_ours(path, out, workers, check=0.8 if tool.endswith("+check") else None, seed=seed)


def measure(tool: str, path: Path, repeats: int, truth: set) -> dict:
    """One tool in fresh interpreters, ``repeats`` times with hash seeds 0, 1, ...: mean
    precision, recall and F1 (one seed's random hash functions are one draw), the fastest run's
    seconds (the usual guard against a busy shared machine) and the largest peak RSS."""
    runs = []
    for seed in range(repeats):
        command = [sys.executable, __file__, "--run", tool, "--data", str(path)]
        command += ["--seed", str(seed)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        run = json.loads(output.strip().splitlines()[-1])
        run["scores"] = scores(clusters_to_pairs(run.pop("clusters")), truth)
        runs.append(run)
    return {
        "scores": [sum(run["scores"][k] for run in runs) / len(runs) for k in range(3)],
        "seconds": min(run["seconds"] for run in runs),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
    }


def scores(predicted: set, truth: set) -> tuple[float, float, float]:
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--originals", type=int, default=8000)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--repeats", type=int, default=3, help="runs (seeds) per tool")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run", choices=TOOLS)
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    if args.run:
        with tempfile.TemporaryDirectory() as tmp:
            result = run_tool(args.run, args.data, Path(tmp) / "run", args.seed)
        own = peak_rss_mb()
        workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        result["peak_rss_mb"] = own + workers  # the driver plus its largest worker
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        print(f"threshold {args.threshold}, 5-gram shingles, 112 permutations, 14 bands x 8 rows")
        print(
            f"{'originals':>9} {'docs':>6} {'tool':<16} {'precision':>9} {'recall':>7} "
            f"{'F1':>6} {'docs/s':>8} {'peak RSS MB':>11}"
        )
        rss: dict[str, list[float]] = {tool: [] for tool in TOOLS}
        for originals in (args.originals, 2 * args.originals):
            path = Path(tmp) / f"set-{originals}.jsonl"
            build(path, originals)
            docs = sum(1 for _ in path.open("rb"))
            truth = true_pairs(path, args.threshold)
            rates = {}
            for tool in TOOLS:
                result = measure(tool, path, args.repeats, truth)
                precision, recall, f1 = result["scores"]
                rates[tool] = docs / result["seconds"]
                rss[tool].append(result["peak_rss_mb"])
                print(
                    f"{originals:>9} {docs:>6} {tool:<16} {precision:>9.3f} {recall:>7.3f} "
                    f"{f1:>6.3f} {rates[tool]:>8,.0f} {result['peak_rss_mb']:>11.0f}"
                )
            for tool in TOOLS[:-1]:
                print(
                    f"{'':>16} {tool} over datasketch: "
                    f"{rates[tool] / rates['datasketch']:.1f}x documents/s"
                )
        for tool, values in rss.items():
            print(f"peak RSS growth when the corpus doubles, {tool}: {values[1] / values[0]:.2f}x")


if __name__ == "__main__":
    main()
