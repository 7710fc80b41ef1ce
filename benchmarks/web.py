"""The web path against datatrove: WARC reading, URL filter and main-text extraction on the
same generated crawl, then tokenization against raw ``tokenizers``.

1. datatrove ``WarcReader -> URLFilter -> Trafilatura`` and goldpan ``warc -> url_filter ->
   extract_html`` with the same URL rules (goldpan's word lists) and trafilatura with the same
   settings (favour precision, deduplicate, tables, no comments, no MathML rewriting), one
   worker each: documents/s and the share of pages whose extracted text is the same.
2. goldpan with the fast extractor (Resiliparse), one worker: documents/s against datatrove's,
   and the word-level agreement of its text with trafilatura's (F1 of the word multisets).
3. Tokenization of demo-corpus texts (6,000 by default, about 5 M tokens: enough that a
   run's fixed start-up cost does not decide the ratio): goldpan's token output (a run reading
   the texts, the ``tokenize`` step, the shards) against raw ``Tokenizer.encode_batch_fast``
   and writing the same uint16 bytes, with the SmolLM2 tokenizer.

    python benchmarks/web.py [--pages 2000]

Needs the web and bench extras: pip install -e '.[web,bench]'.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from goldpan.data.demo_corpus import build_demo_corpus
from goldpan.data.demo_web import build_demo_warc


def datatrove_run(warc: Path) -> tuple[dict[str, str], float]:
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import URLFilter
    from datatrove.pipeline.readers import WarcReader

    from goldpan.curate.url_filter import default_word_list

    reader = WarcReader(str(warc.parent), glob_pattern=warc.name)
    # The same rules as goldpan's default: its word lists, no UT1 domain list (loading that
    # costs datatrove about half a minute per process, which would swamp a small crawl).
    url_filter = URLFilter(
        use_integrated_lists=False,
        banned_words=default_word_list("banned_words.txt"),
        soft_banned_words=default_word_list("soft_banned_words.txt"),
        banned_subwords=default_word_list("banned_subwords.txt"),
    )
    extractor = Trafilatura(favour_precision=True, deduplicate=True, timeout=5)
    started = time.perf_counter()
    documents = extractor.run(url_filter.run(reader.run()))
    texts = {d.metadata["url"]: d.text for d in documents}
    return texts, time.perf_counter() - started


def goldpan_run(warc: Path, out: Path, extractor: str) -> tuple[dict[str, str], float]:
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    output: dict = {"dir": str(out), "format": "parquet"}
    recipe = {
        "input": {"paths": [str(warc)]},
        "output": output,
        "workers": 1,
        "steps": [
            {"name": "url_filter"},
            {"name": "extract_html", "extractor": extractor, "favor": "precision",
             "deduplicate": True, "math_as_tex": False, "timeout_s": 5},
        ],
    }
    started = time.perf_counter()
    result = run_recipe(parse_recipe(recipe))
    seconds = time.perf_counter() - started
    import pyarrow.parquet as pq

    texts: dict[str, str] = {}
    for name in result.output_files:
        table = pq.read_table(out / "output" / name, columns=["url", "text"])
        texts.update(zip(table.column("url").to_pylist(), table.column("text").to_pylist(),
                         strict=True))
    return texts, seconds


def word_f1(a: str, b: str) -> float:
    left, right = Counter(a.split()), Counter(b.split())
    common = sum((left & right).values())
    if not left and not right:
        return 1.0
    if not common:
        return 0.0
    precision, recall = common / sum(left.values()), common / sum(right.values())
    return 2 * precision * recall / (precision + recall)


def tokenization(texts: list[str], tokenizer: str, work: Path, repeats: int
                 ) -> tuple[float, float, int]:
    """(goldpan seconds, raw seconds, tokens): medians of ``repeats`` runs of each, taken in
    turn, so that a warm-up or a noisy moment does not decide the ratio."""
    from tokenizers import Tokenizer

    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe
    from goldpan.score.tokenize import tokenizer_file

    corpus = work / "texts.jsonl"
    corpus.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n"
                              for i, t in enumerate(texts)))
    file, _ = tokenizer_file(tokenizer)
    raw = Tokenizer.from_file(str(file))
    eos = raw.token_to_id("<|im_end|>") or 0
    ours, theirs = [], []
    for attempt in range(repeats):
        started = time.perf_counter()
        encoded = raw.encode_batch_fast(texts, add_special_tokens=False)
        flat = np.concatenate([np.asarray([*e.ids, eos], np.uint16) for e in encoded])
        (work / "raw.bin").write_bytes(flat.tobytes())
        theirs.append(time.perf_counter() - started)
        recipe = {"input": {"paths": [str(corpus)], "id_field": "id"}, "workers": 1,
                  "output": {"dir": str(work / f"tokens-{attempt}"), "format": "tokens",
                             "tokenizer": tokenizer}, "steps": []}
        started = time.perf_counter()
        run_recipe(parse_recipe(recipe))
        ours.append(time.perf_counter() - started)
        shards = sorted((work / f"tokens-{attempt}" / "output").glob("part-*.bin"))
        if b"".join(p.read_bytes() for p in shards) != flat.tobytes():
            raise SystemExit("goldpan's shards differ from the raw tokenizer's bytes")
    return statistics.median(ours), statistics.median(theirs), int(flat.size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--tokenizer", default="smollm2-135m-instruct")
    parser.add_argument("--token-docs", type=int, default=6000,
                        help="Demo-corpus texts tokenized (enough for a steady rate).")
    parser.add_argument("--token-repeats", type=int, default=3,
                        help="Runs of each tokenization, in turn; the medians are compared.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = work / "corpus.jsonl"
        build_demo_corpus(corpus)
        damaged = work / "damaged" / "crawl.warc.gz"
        build_demo_warc(corpus, damaged, pages=args.pages)
        try:
            datatrove_run(damaged)
            print("datatrove reads the crawl with one stray fragment")
        except Exception as error:  # what a user of datatrove meets
            print(f"datatrove on the crawl with one stray fragment: {type(error).__name__}: "
                  f"{str(error).splitlines()[0][:80]} (goldpan: one read:malformed_warc reject)")
        warc = work / "crawl" / "crawl.warc.gz"
        pages = build_demo_warc(corpus, warc, pages=args.pages, stray_bytes=False)
        print(f"crawl without it: {pages:,} article pages, {warc.stat().st_size / 1e6:.1f} MB")
        theirs, their_s = datatrove_run(warc)
        ours, our_s = goldpan_run(warc, work / "traf", "trafilatura")
        fast, fast_s = goldpan_run(warc, work / "fast", "resiliparse")
        both = sorted(set(theirs) & set(ours))
        same = sum(theirs[u] == ours[u] for u in both)
        print("\n| pipeline | documents out | seconds | documents/s | vs datatrove |")
        print("|---|---:|---:|---:|---:|")
        for name, texts, seconds in (("datatrove WarcReader+URLFilter+Trafilatura", theirs,
                                      their_s),
                                     ("goldpan warc+url_filter+extract_html (trafilatura)", ours,
                                      our_s),
                                     ("goldpan ... extract_html (resiliparse)", fast, fast_s)):
            rate = pages / seconds
            print(f"| {name} | {len(texts):,} | {seconds:.1f} | {rate:,.0f} | "
                  f"{their_s / seconds:.2f}x |")
        print(f"\nSame settings, trafilatura: identical text on {same:,} of {len(both):,} pages "
              f"kept by both ({same / max(1, len(both)):.1%}); kept by one only: "
              f"{len(set(theirs) ^ set(ours)):,}")
        for url in [u for u in both if theirs[u] != ours[u]][:3]:
            a, b = theirs[url], ours[url]
            at = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                      min(len(a), len(b)))
            print(f"  differs: {url}: datatrove {a[max(0, at - 30):at + 30]!r} / goldpan "
                  f"{b[max(0, at - 30):at + 30]!r}")
        f1 = [word_f1(fast[u], theirs[u]) for u in sorted(set(fast) & set(theirs))]
        if f1:
            print(f"Resiliparse against trafilatura, word F1 per page: mean "
                  f"{statistics.mean(f1):.3f}, median {statistics.median(f1):.3f}, pages at "
                  f">= 0.9: {sum(v >= 0.9 for v in f1) / len(f1):.1%}")
        texts = [json.loads(line)["text"] for line in corpus.open()][: args.token_docs]
        ours_s, raw_s, tokens = tokenization(texts, args.tokenizer, work,
                                             args.token_repeats)
        print(f"\nTokenization of {len(texts):,} corpus texts ({tokens:,} tokens): goldpan run "
              f"{ours_s:.2f} s, raw encode_batch + write {raw_s:.2f} s (medians of "
              f"{args.token_repeats}): {raw_s / ours_s:.2f}x of raw speed")


if __name__ == "__main__":
    main()
