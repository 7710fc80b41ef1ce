"""Does a quality score see coherence? Pair accuracies of the reverse-modeling score S, of the
forward loss and of the reverse loss on coherence pairs (issue 18).

Pairs (``goldpan.experiments.coherence``): English prose from the embedded corpora (Wikipedia
summaries and news articles) that the demo corpus did not take (so scorers trained on it have
not seen them), each against itself with its sentences shuffled, with its paragraphs shuffled,
and against Markov-chain text of the same length. Higher S (or lower loss) should mean the
original. Also the share of S > 0 per source, on originals of each kind of text.

    python benchmarks/coherence.py --forward OUT/forward --reverse OUT/reverse
    python benchmarks/coherence.py --joint OUT/joint            # one direction-token scorer
    python benchmarks/coherence.py --forward smollm2-135m-instruct   # forward loss only
        [--pairs 200] [--max-length 128] [--seed 0] [--corpus corpus.jsonl]

Folders are `goldpan train-scorers` outputs (or any ``models.load`` spec).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from itertools import islice
from pathlib import Path

import numpy as np
import orjson

from goldpan.data.demo_corpus import build_demo_corpus, markov, news, stdlib_code, wikipedia
from goldpan.experiments.coherence import coherence_pairs, pair_accuracy
from goldpan.score.lm import LmScore


def unseen_prose(count: int, seed: int, corpus: Path | None) -> list[dict[str, str]]:
    """Wikipedia (English) and news documents that are not in the scorers' training corpus
    (``--corpus``, default: the demo corpus, built here), drawn with ``seed``."""
    if corpus is None:
        corpus = Path(tempfile.mkdtemp()) / "corpus.jsonl"
        build_demo_corpus(corpus)
    seen = {orjson.loads(line)["text"] for line in corpus.read_bytes().splitlines() if line}
    documents: list[dict[str, str]] = []
    rng = random.Random(seed)
    for source, reader in (("wikipedia_en", lambda: wikipedia("en")), ("news", news)):
        rest = [d for d in reader() if len(d["text"]) >= 400 and d["text"] not in seen]
        rng.shuffle(rest)
        documents += [{"text": d["text"][:4000], "source": source} for d in rest[: count // 2]]
    return documents


def mean_losses(model: str, texts: list[str], direction: str, start: str, length: int):  # type: ignore[no-untyped-def]
    step = LmScore(LmScore.Options(model=model, direction=direction, start_token=start,
                                   max_length=length, long_texts="truncate"))
    nll, counts = step.score(texts)
    return nll / np.maximum(counts, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forward")
    parser.add_argument("--reverse")
    parser.add_argument("--joint", help="One scorer trained on both directions.")
    parser.add_argument("--pairs", type=int, default=200, help="Pairs of each kind.")
    parser.add_argument("--max-length", type=int, default=128, help="Tokens scored per text.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, help="The scorers' training corpus (JSONL): its "
                        "documents are never used as pairs (default: the demo corpus).")
    args = parser.parse_args()
    if not (args.joint or args.forward):
        parser.error("give --forward (and --reverse) or --joint")

    documents = unseen_prose(args.pairs * 2, args.seed, args.corpus)
    chains = [d["text"] for d in islice(markov(), 2000)]
    pairs = coherence_pairs(documents, chains, args.pairs, args.seed)
    originals = {
        "wikipedia_en": [d["text"] for d in documents if d["source"] == "wikipedia_en"][:100],
        "news": [d["text"] for d in documents if d["source"] == "news"][:100],
        "markov": chains[:100],
        "code": [d["text"][:4000] for d in islice(stdlib_code(), 100)],
    }
    texts = [p.original for p in pairs] + [p.corrupted for p in pairs]
    texts += [t for group in originals.values() for t in group]
    started = time.perf_counter()
    if args.joint:
        fwd = mean_losses(args.joint, texts, "forward", "direction", args.max_length)
        rev = mean_losses(args.joint, texts, "reverse", "direction", args.max_length)
    else:
        fwd = mean_losses(args.forward, texts, "forward", "bos", args.max_length)
        rev = (mean_losses(args.reverse, texts, "reverse", "bos", args.max_length)
               if args.reverse else None)
    seconds = time.perf_counter() - started
    n = len(pairs)
    print(f"{n} pairs ({args.pairs} per kind), {len(texts)} texts scored in {seconds:.0f} s, "
          f"first {args.max_length} tokens of each")
    print("| pairs | S | forward loss | reverse loss |")
    print("|---|---:|---:|---:|")
    for kind in ("sentences", "paragraphs", "markov"):
        index = [i for i, p in enumerate(pairs) if p.kind == kind]
        cells = [pair_accuracy([-fwd[i] for i in index], [-fwd[n + i] for i in index])]
        if rev is not None:
            s = fwd - rev
            cells = [pair_accuracy([s[i] for i in index], [s[n + i] for i in index]), cells[0],
                     pair_accuracy([-rev[i] for i in index], [-rev[n + i] for i in index])]
            print(f"| {kind} ({len(index)}) | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
        else:
            print(f"| {kind} ({len(index)}) | - | {cells[0]:.3f} | - |")
    if rev is not None:
        start = 2 * n
        print("\nShare of S > 0 and mean S per source (originals):")
        for source, group in originals.items():
            s = (fwd - rev)[start : start + len(group)]
            start += len(group)
            print(f"  {source}: {np.mean(s > 0):.2f} (mean S {np.mean(s):+.3f}, "
                  f"{len(group)} texts)")


if __name__ == "__main__":
    main()
