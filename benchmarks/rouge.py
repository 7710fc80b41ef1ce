"""Self-Instruct's ROUGE-L novelty check: goldpan's ``RougeLPool`` against ``rouge_score``
applied naively (the reference implementation, as the original code uses it: score the
candidate against every instruction in the pool, keep it if no F-measure exceeds 0.7).

Pool: 10,000 real instructions (user messages of ShareGPT conversations, 4 to 150 words).
Candidates: 1,000, half of them other real instructions and half edited copies of pool members
(a few words dropped, swapped or replaced), so both decisions occur. The naive check is timed
on --naive-candidates of them (each is one full scan of the pool, so its time is linear in the
number of candidates) and projected to all 1,000; decisions are compared on those, and
goldpan's indexed check is compared with its own exhaustive LCS on all 1,000.

    python benchmarks/rouge.py [--pool 10000] [--candidates 1000] [--naive-candidates 100]
"""

from __future__ import annotations

import argparse
import random
import time

from rouge_score import rouge_scorer

from goldpan.data.demo_corpus import user_turns
from goldpan.synth.rouge import RougeLPool

THRESHOLD = 0.7


def instructions(count: int) -> list[str]:
    seen: dict[str, None] = {}
    for turn in user_turns():
        text = " ".join(turn.split())
        if 4 <= len(text.split()) <= 150 and text not in seen:
            seen[text] = None
            if len(seen) >= count:
                break
    return list(seen)


def edited(text: str, rng: random.Random, vocabulary: list[str]) -> str:
    words = text.split()
    for _ in range(max(1, len(words) // 10)):
        position = rng.randrange(len(words))
        kind = rng.choice(("drop", "swap", "replace"))
        if kind == "drop" and len(words) > 4:
            del words[position]
        elif kind == "swap" and position + 1 < len(words):
            words[position], words[position + 1] = words[position + 1], words[position]
        else:
            words[position] = rng.choice(vocabulary)
    return " ".join(words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=10_000)
    parser.add_argument("--candidates", type=int, default=1_000)
    parser.add_argument("--naive-candidates", type=int, default=100)
    args = parser.parse_args()
    rng = random.Random(0)
    texts = instructions(args.pool + args.candidates // 2)
    if len(texts) < args.pool + args.candidates // 2:
        raise SystemExit(f"only {len(texts)} distinct instructions available")
    pool_texts, fresh = texts[: args.pool], texts[args.pool :]
    vocabulary = " ".join(rng.sample(pool_texts, 200)).split()
    copies = [edited(rng.choice(pool_texts), rng, vocabulary) for _ in range(len(fresh))]
    candidates = [c for pair in zip(fresh, copies, strict=True) for c in pair]

    started = time.perf_counter()
    pool = RougeLPool(pool_texts)
    built = time.perf_counter() - started
    started = time.perf_counter()
    ours = [pool.too_similar(c, THRESHOLD) is not None for c in candidates]
    ours_seconds = time.perf_counter() - started
    exhaustive = [pool.max_score(c)[0] > THRESHOLD for c in candidates]

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    sample = candidates[: args.naive_candidates]
    started = time.perf_counter()
    naive = [
        max(scorer.score(c, p)["rougeL"].fmeasure for p in pool_texts) > THRESHOLD for c in sample
    ]
    naive_seconds = (time.perf_counter() - started) * len(candidates) / len(sample)

    print(f"pool {len(pool_texts):,} instructions, {len(candidates):,} candidates, F > {THRESHOLD}")
    print(f"goldpan: index built in {built:.2f} s, {ours_seconds:.2f} s for all candidates")
    print(
        f"rouge_score naive: {naive_seconds:.1f} s projected from {len(sample)} candidates "
        f"({naive_seconds / len(candidates) * 1000:.1f} ms each)"
    )
    print(
        f"speed-up: {naive_seconds / ours_seconds:.0f}x (index build included: "
        f"{naive_seconds / (ours_seconds + built):.0f}x)"
    )
    same = sum(a == b for a, b in zip(ours, naive, strict=False))
    print(f"decisions equal to rouge_score: {same}/{len(sample)}")
    print(
        f"decisions equal to goldpan's exhaustive LCS: "
        f"{sum(a == b for a, b in zip(ours, exhaustive, strict=True))}/{len(candidates)}"
    )
    print(f"rejected as too similar: {sum(ours)} of {len(candidates)}")


if __name__ == "__main__":
    main()
