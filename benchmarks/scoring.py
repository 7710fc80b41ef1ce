"""LM scoring throughput: goldpan's ``lm_score`` against a raw batched forward pass (the limit)
and against a naive one-document-at-a-time transformers loop, with SmolLM2-135M on CPU.

All three see the same documents, cut to at most --max-length tokens, in float32 and bfloat16.
The limit is the model's forward over length-sorted, right-padded batches of the same token
ids plus the log-softmax needed for a loss, and nothing else (no tokenising, no windows, no
bookkeeping). The naive loop is what a script would do: tokenise one text, ``model(ids,
labels=ids)``, next text.

    python benchmarks/scoring.py [--docs 96] [--max-length 512]
"""

from __future__ import annotations

import argparse
import time

import pyarrow as pa
import torch

from goldpan.data.demo_corpus import news, wikipedia
from goldpan.models.load import load_cached
from goldpan.score.lm import LmScore, batches, sequence, start_id, windows

MODEL = "smollm2-135m-instruct"


def texts(count: int) -> list[str]:
    pool = [d["text"] for d in news()] + [d["text"] for d in wikipedia("en")]
    return [t for t in pool if len(t) > 400][:count]


def run_ours(docs: list[str], dtype: str, max_length: int) -> tuple[float, int]:
    step = LmScore(
        LmScore.Options(
            model=MODEL,
            dtype=dtype,
            max_length=max_length,
            stride=max_length // 2,
            long_texts="truncate",
            batch_tokens=1024,
        )
    )
    table = pa.table(
        {
            "id": [str(i) for i in range(len(docs))],
            "text": pa.array(docs, pa.large_string()),
            "source": ["b"] * len(docs),
        }
    )
    started = time.perf_counter()
    result = step.process(table)
    return time.perf_counter() - started, sum(result.column("n_tokens").to_pylist())


def run_limit(docs: list[str], dtype: str, max_length: int) -> tuple[float, int]:
    loaded = load_cached(MODEL, dtype)
    start = start_id(loaded.tokenizer, "bos")
    ids = loaded.tokenizer(docs, add_special_tokens=False)["input_ids"]
    items = [
        w
        for i, t in enumerate(ids)
        for w in windows(i, sequence(t, "forward", start), max_length, max_length // 2, "truncate")
    ]
    groups = batches(items, 1024)
    tensors = []
    for group in groups:  # prepared before the clock starts: the limit is the model alone
        width = max(len(w.tokens) for w in group)
        batch = torch.zeros((len(group), width), dtype=torch.long)
        mask = torch.zeros((len(group), width), dtype=torch.long)
        for row, window in enumerate(group):
            batch[row, : len(window.tokens)] = torch.tensor(window.tokens)
            mask[row, : len(window.tokens)] = 1
        tensors.append((batch, mask))
    started = time.perf_counter()
    with torch.inference_mode():
        for batch, mask in tensors:
            logits = loaded.model(input_ids=batch, attention_mask=mask).logits
            torch.logsumexp(logits[:, :-1].float(), dim=-1)
    return time.perf_counter() - started, sum(len(w.tokens) - 1 for w in items)


def run_naive(docs: list[str], dtype: str, max_length: int) -> tuple[float, int]:
    loaded = load_cached(MODEL, dtype)
    bos = loaded.tokenizer.bos_token_id
    started = time.perf_counter()
    tokens = 0
    with torch.inference_mode():
        for text in docs:
            ids = [bos] + loaded.tokenizer(text, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([ids[:max_length]])
            loaded.model(input_ids=ids, labels=ids)
            tokens += ids.shape[1] - 1
    return time.perf_counter() - started, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=96)
    parser.add_argument("--max-length", type=int, default=512)
    args = parser.parse_args()
    docs = texts(args.docs)
    print(
        f"{len(docs)} documents, SmolLM2-135M on CPU ({torch.get_num_threads()} threads), "
        f"up to {args.max_length} tokens each"
    )
    print(
        f"{'dtype':<9} {'ours tok/s':>11} {'limit tok/s':>12} {'naive tok/s':>12} "
        f"{'ours/limit':>11} {'ours/naive':>11}"
    )
    for dtype in ("float32", "bfloat16"):
        run_ours(docs[:4], dtype, args.max_length)  # load and warm up outside the clock
        ours = run_ours(docs, dtype, args.max_length)
        limit = run_limit(docs, dtype, args.max_length)
        naive = run_naive(docs, dtype, args.max_length)
        rates = [tokens / seconds for seconds, tokens in (ours, limit, naive)]
        print(
            f"{dtype:<9} {rates[0]:>11,.0f} {rates[1]:>12,.0f} {rates[2]:>12,.0f} "
            f"{rates[0] / rates[1]:>11.2f} {rates[0] / rates[2]:>11.2f}"
        )


if __name__ == "__main__":
    main()
