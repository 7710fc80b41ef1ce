"""Does a quality score see coherence? Pair accuracies of the reverse-modeling score S, of the
forward loss and of the reverse loss on coherence pairs (issue 18).

Pairs (``goldpan.experiments.coherence``): English prose from the embedded corpora that the
scorers' training corpus does not hold (Wikipedia summaries, news articles, multi-paragraph
ShareGPT answers, each cut to about 2,000 characters), each against itself with its sentences
shuffled, with its paragraphs shuffled, and against Markov-chain text of the same length. Texts
are scored whole, in sliding windows of ``--max-length`` tokens (the scorers' context). Higher
S (or lower loss) should mean the original. Also the share of S > 0 per source, on originals.

    python benchmarks/coherence.py --forward OUT/forward --reverse OUT/reverse
    python benchmarks/coherence.py --joint OUT/joint            # one direction-token scorer
    python benchmarks/coherence.py --forward smollm2-135m-instruct   # forward loss only
        [--pairs 200] [--originals 100] [--max-length 128] [--seed 0] [--corpus corpus.jsonl]
    python benchmarks/coherence.py --save-texts texts.json    # then --texts texts.json elsewhere
    python benchmarks/coherence.py --probes ...   # also what drives a preference (issue 34)

Folders are `goldpan train-scorers` outputs (or any ``models.load`` spec).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from dataclasses import asdict
from itertools import islice
from pathlib import Path

import numpy as np
import orjson

from goldpan.data.demo_corpus import (
    build_demo_corpus,
    first_turns,
    markov,
    news,
    package_dir,
    stdlib_code,
    wikipedia,
)
from goldpan.experiments.coherence import (
    PROBES,
    Pair,
    accuracy_by_position,
    coherence_pairs,
    pair_accuracy,
)
from goldpan.score.lm import LmScore
from goldpan.util.intervals import wilson_interval


def _english_answers(limit: int) -> list[str]:
    """ShareGPT answers in English prose with at least three paragraphs (no code blocks): the
    embedded text with paragraphs to shuffle. The demo corpus takes conversations from the
    start of the file (2,000 of them), so these come from after its first 3,000."""
    found = []
    for number, turn in enumerate(first_turns()):
        if number < 3000:
            continue
        text = turn["response"].strip()
        paragraphs = [p for p in text.split("\n") if p.strip()]
        ascii_share = sum(c.isascii() for c in text) / max(1, len(text))
        if len(paragraphs) >= 3 and "```" not in text and ascii_share > 0.98 and len(text) >= 400:
            found.append(text)
            if len(found) >= limit:
                break
    return found


def _cut(text: str, limit: int = 2000) -> str:
    """At most ``limit`` characters, ending at a paragraph or sentence end when there is one."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    end = max(head.rfind("\n"), head.rfind(". "))
    return head[: end + 1] if end > limit // 2 else head


def unseen_prose(count: int, seed: int, corpus: Path | None) -> list[dict[str, str]]:
    """English prose the scorers' training corpus (``--corpus``, default: the demo corpus,
    built here) does not hold, drawn with ``seed`` and shuffled together: Wikipedia summaries,
    news articles (gensim's Lee test set) and multi-paragraph ShareGPT answers, each cut to
    about 2,000 characters at a sentence or paragraph end."""
    if corpus is None:
        corpus = Path(tempfile.mkdtemp()) / "corpus.jsonl"
        build_demo_corpus(corpus)
    seen = {orjson.loads(line)["text"] for line in corpus.read_bytes().splitlines() if line}
    rng = random.Random(seed)
    lee_test = package_dir("gensim") / "test" / "test_data" / "lee.cor"
    readers = {
        "wikipedia_en": lambda: [d["text"] for d in wikipedia("en")],
        "news": lambda: [line.strip() for line in lee_test.read_text(encoding="latin-1")
                         .splitlines() if line.strip()] + [d["text"] for d in news()],
        "answers": lambda: _english_answers(count),
    }
    documents: list[dict[str, str]] = []
    for source, read in readers.items():
        rest = [t for t in read() if len(t) >= 400 and t not in seen]
        rng.shuffle(rest)
        documents += [{"text": _cut(t), "source": source} for t in rest[: count // 2]]
    rng.shuffle(documents)
    return documents


def mean_losses(model: str, texts: list[str], direction: str, start: str, length: int):  # type: ignore[no-untyped-def]
    step = LmScore(LmScore.Options(model=model, direction=direction, start_token=start,
                                   max_length=length, stride=length // 2))
    nll, counts = step.score(texts)
    return nll / np.maximum(counts, 1)


def build_texts(pairs_per_kind: int, seed: int, corpus: Path | None, probes: bool = False) -> dict:
    """The benchmark's texts: coherence pairs (with ``probes`` also the probe kinds) and, per
    source, originals for the share of S > 0 (JSON-ready, so a machine without the embedded
    corpora can take them as a file)."""
    documents = unseen_prose(pairs_per_kind * 2, seed, corpus)
    chains = [d["text"] for d in islice(markov(), 2000)]
    pairs = coherence_pairs(documents, chains, pairs_per_kind, seed, probes)
    originals = {
        "wikipedia_en": [d["text"] for d in documents if d["source"] == "wikipedia_en"][:100],
        "news": [d["text"] for d in documents if d["source"] == "news"][:100],
        "answers": [d["text"] for d in documents if d["source"] == "answers"][:100],
        "markov": chains[:100],
        "code": [d["text"][:4000] for d in islice(stdlib_code(), 100)],
    }
    return {"pairs": [asdict(p) for p in pairs], "originals": originals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forward")
    parser.add_argument("--reverse")
    parser.add_argument("--joint", help="One scorer trained on both directions.")
    parser.add_argument("--pairs", type=int, default=200,
                        help="Pairs of each kind (with --texts: at most).")
    parser.add_argument("--originals", type=int, default=100,
                        help="Originals per source for the share of S > 0 (0: none).")
    parser.add_argument("--max-length", type=int, default=128, help="Window: the scorers' context.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, help="The scorers' training corpus (JSONL): its "
                        "documents are never used as pairs (default: the demo corpus).")
    parser.add_argument("--save-texts", type=Path, help="Write the benchmark's texts (JSON) "
                        "and stop: for a machine without the embedded corpora.")
    parser.add_argument("--texts", type=Path, help="Read the texts --save-texts wrote.")
    parser.add_argument("--probes", action="store_true", help="Also the probes of what drives "
                        "a preference: interior-only shuffles, the first sentence swapped, "
                        "pairs short enough for one window, accuracy by moved position.")
    args = parser.parse_args()
    if args.save_texts:
        args.save_texts.write_bytes(orjson.dumps(build_texts(args.pairs, args.seed, args.corpus,
                                                             args.probes)))
        return
    if not (args.joint or args.forward):
        parser.error("give --forward (and --reverse) or --joint")

    loaded = (orjson.loads(args.texts.read_bytes()) if args.texts
              else build_texts(args.pairs, args.seed, args.corpus, args.probes))
    pairs = [Pair(**{**p, "moved": tuple(p.get("moved", ()))}) for p in loaded["pairs"]]
    kinds = ["sentences", "paragraphs", "markov", *(PROBES if args.probes else ())]
    pairs = [p for kind in kinds  # fewer than were saved: the first of each kind
             for p in [q for q in pairs if q.kind == kind][: args.pairs]]
    originals = {source: group[: args.originals] for source, group in loaded["originals"].items()}
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
    print(f"{n} pairs, {len(texts)} texts scored in {seconds:.0f} s, in windows of "
          f"{args.max_length} tokens")
    print("| pairs | S | forward loss | reverse loss |")
    print("|---|---:|---:|---:|")
    for kind in kinds:
        index = [i for i, p in enumerate(pairs) if p.kind == kind]
        if not index:
            continue
        cells = [pair_accuracy([-fwd[i] for i in index], [-fwd[n + i] for i in index])]
        if rev is not None:
            s = fwd - rev
            cells = [pair_accuracy([s[i] for i in index], [s[n + i] for i in index]), cells[0],
                     pair_accuracy([-rev[i] for i in index], [-rev[n + i] for i in index])]
            print(f"| {kind} ({len(index)}) | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
        else:
            print(f"| {kind} ({len(index)}) | - | {cells[0]:.3f} | - |")
    if rev is not None:
        s = fwd - rev
        print("\nS's pair accuracy per source, with 95% Wilson intervals (ties count half):")
        for kind in kinds:
            for source in sorted({p.source for p in pairs if p.kind == kind}):
                index = [i for i, p in enumerate(pairs) if p.kind == kind and p.source == source]
                accuracy = pair_accuracy([s[i] for i in index], [s[n + i] for i in index])
                interval = wilson_interval(accuracy * len(index), len(index))
                print(f"  {kind} / {source}: {accuracy:.3f} [{interval.low:.3f}, "
                      f"{interval.high:.3f}] ({len(index)} pairs)")
    if rev is not None and args.probes:
        s = fwd - rev
        reordered = [i for i, p in enumerate(pairs) if p.kind in ("sentences", *PROBES)]
        split = accuracy_by_position([pairs[i] for i in reordered], [s[i] for i in reordered],
                                     [s[n + i] for i in reordered])
        print("\nS's pair accuracy on sentence reorderings by where the moves are:")
        for name, (accuracy, count) in split.items():
            print(f"  {name}: {accuracy:.3f} ({count} pairs)")
    if rev is not None:
        start = 2 * n
        print("\nShare of S > 0 and mean S per source (originals):")
        for source, group in originals.items():
            s = (fwd - rev)[start : start + len(group)]
            start += len(group)
            if group:
                print(f"  {source}: {np.mean(s > 0):.2f} (mean S {np.mean(s):+.3f}, "
                      f"{len(group)} texts)")


if __name__ == "__main__":
    main()
