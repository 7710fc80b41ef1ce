"""Heuristic filters and language ID: goldpan against datatrove and raw fastText.

For each rule set, datatrove's filter and ours decide keep or drop for every document of the
embedded demo corpus, in one process each, on the same texts. Printed per filter: agreement of
the decisions, documents/s for both, and our speed over datatrove's. Language ID: our
``langid`` step against a raw batched ``fasttext`` ``predict`` on the same texts and model.

    python benchmarks/filters.py [--docs N] [--show-disagreements 5]

Needs the bench extra (datatrove, spaCy): pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa

from goldpan.curate.heuristics.c4 import C4Quality
from goldpan.curate.heuristics.fineweb import FineWebQuality
from goldpan.curate.heuristics.gopher_quality import GopherQuality
from goldpan.curate.heuristics.gopher_repetition import GopherRepetition
from goldpan.curate.langid import LangId, packaged_model_path
from goldpan.data.demo_corpus import build_demo_corpus
from goldpan.data.schema import TEXT_TYPE
from goldpan.models.fasttext import load_fasttext


def load_texts(limit: int | None) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.jsonl"
        build_demo_corpus(path)
        texts = [json.loads(line)["text"] for line in path.open()]
    return [t for t in texts if t.strip()][:limit]


def datatrove_decisions(filter_, texts: list[str]) -> tuple[list[str | None], float]:
    from datatrove.data import Document

    documents = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    started = time.perf_counter()
    decisions = []
    for document in documents:
        verdict = filter_.filter(document)
        if verdict is True:
            decisions.append(None)
        else:
            decisions.append(verdict[1] if isinstance(verdict, tuple) else "dropped")
    return decisions, time.perf_counter() - started


def our_decisions(step, texts: list[str]) -> tuple[list[str | None], float]:
    batch = pa.table(
        {
            "id": [str(i) for i in range(len(texts))],
            "text": pa.array(texts, TEXT_TYPE),
            "source": ["bench"] * len(texts),
        }
    )
    started = time.perf_counter()
    reasons = step.process(batch).column("reject_reason").to_pylist()
    return reasons, time.perf_counter() - started


def compare(name: str, theirs, ours, texts: list[str], show: int) -> dict:
    their_decisions, their_seconds = datatrove_decisions(theirs, texts)
    our_reasons, our_seconds = our_decisions(ours, texts)
    same = sum(
        (a is None) == (b is None) for a, b in zip(their_decisions, our_reasons, strict=True)
    )
    disagreements = Counter(
        (a, b)
        for a, b in zip(their_decisions, our_reasons, strict=True)
        if (a is None) != (b is None)
    )
    print(
        f"{name:<20} agreement {same / len(texts):7.2%}  "
        f"datatrove {len(texts) / their_seconds:9,.0f} docs/s  "
        f"goldpan {len(texts) / our_seconds:9,.0f} docs/s  "
        f"speed-up {their_seconds / our_seconds:5.1f}x  "
        f"(drops: datatrove {sum(d is not None for d in their_decisions)}, "
        f"goldpan {sum(r is not None for r in our_reasons)})"
    )
    for (their_reason, our_reason), count in disagreements.most_common(show):
        print(f"    {count:4d} x datatrove={their_reason} goldpan={our_reason}")
    return {"agreement": same / len(texts), "speedup": their_seconds / our_seconds}


def compare_langid(texts: list[str]) -> None:
    model = load_fasttext(str(packaged_model_path()))
    lines = [t.replace("\n", " ").strip() for t in texts]
    started = time.perf_counter()
    labels, _ = model.predict(lines, k=1)
    raw_seconds = time.perf_counter() - started
    step = LangId(LangId.Options(languages=None))
    batch = pa.table(
        {
            "id": [str(i) for i in range(len(texts))],
            "text": pa.array(texts, TEXT_TYPE),
            "source": ["bench"] * len(texts),
        }
    )
    started = time.perf_counter()
    result = step.process(batch)
    our_seconds = time.perf_counter() - started
    same = sum(
        label[0].removeprefix("__label__") == ours
        for label, ours in zip(labels, result.column("lang").to_pylist(), strict=True)
    )
    print(
        f"{'langid':<20} same label {same / len(texts):7.2%}  "
        f"raw fastText {len(texts) / raw_seconds:9,.0f} docs/s  "
        f"goldpan {len(texts) / our_seconds:9,.0f} docs/s  "
        f"ratio {raw_seconds / our_seconds:5.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=None)
    parser.add_argument("--show-disagreements", type=int, default=5)
    args = parser.parse_args()
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    texts = load_texts(args.docs)
    print(f"{len(texts):,} documents of the demo corpus, one process each side")
    pairs = [
        ("gopher_quality", GopherQualityFilter(), GopherQuality()),
        ("gopher_repetition", GopherRepetitionFilter(), GopherRepetition()),
        ("c4_quality", C4QualityFilter(), C4Quality()),
        ("fineweb_quality", FineWebQualityFilter(), FineWebQuality()),
    ]
    for name, theirs, ours in pairs:
        compare(name, theirs, ours, texts, args.show_disagreements)
    compare_langid(texts)


if __name__ == "__main__":
    main()
