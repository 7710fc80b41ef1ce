"""LM scoring throughput: goldpan's ``lm_score`` against a raw batched forward pass (the limit)
and against a naive one-document-at-a-time transformers loop, with SmolLM2-135M on CPU (or
on a GPU with --device cuda).

All three see the same documents, cut to at most --max-length tokens, in float32 and bfloat16.
The limit is the model's forward over length-sorted, right-padded batches of the same token
ids plus the log-softmax needed for a loss, and nothing else (no tokenising, no windows, no
bookkeeping). The naive loop is what a script would do: tokenise one text, ``model(ids,
labels=ids)``, next text.

    python benchmarks/scoring.py [--docs 96] [--max-length 512] [--device cpu|cuda]
        [--model SPEC] [--texts FILE.jsonl] [--batch-tokens N]

--model takes any ``models.load`` spec (a folder works where the embedded package is not
installed); --texts a JSONL file with a ``text`` field instead of the embedded news and
Wikipedia texts.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pyarrow as pa
import torch

from goldpan.models.load import load_cached
from goldpan.score.lm import LmScore, batches, default_batch_tokens, sequence, start_id, windows

MODEL = "smollm2-135m-instruct"


def texts(count: int, path: Path | None) -> list[str]:
    if path is not None:
        pool = [json.loads(line)["text"] for line in path.open()]
    else:
        from goldpan.data.demo_corpus import news, wikipedia

        pool = [d["text"] for d in news()] + [d["text"] for d in wikipedia("en")]
    return [t for t in pool if len(t) > 400][:count]


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_ours(
    args: argparse.Namespace, docs: list[str], dtype: str
) -> tuple[float, int, list[float]]:
    step = LmScore(
        LmScore.Options(
            model=args.model,
            dtype=dtype,
            max_length=args.max_length,
            stride=args.max_length // 2,
            long_texts="truncate",
            batch_tokens=args.batch_tokens,
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
    seconds = time.perf_counter() - started
    return seconds, sum(result.column("n_tokens").to_pylist()), result["fwd_loss"].to_pylist()


def run_limit(args: argparse.Namespace, docs: list[str], dtype: str) -> tuple[float, int, None]:
    loaded = load_cached(args.model, dtype, args.device)
    max_length = args.max_length
    start = start_id(loaded.tokenizer, "bos")
    ids = loaded.tokenizer(docs, add_special_tokens=False)["input_ids"]
    items = [
        w
        for i, t in enumerate(ids)
        for w in windows(i, sequence(t, "forward", start), max_length, max_length // 2, "truncate")
    ]
    groups = batches(items, args.batch_tokens or default_batch_tokens(loaded.device))
    tensors = []
    for group in groups:  # prepared before the clock starts: the limit is the model alone
        width = max(len(w.tokens) for w in group)
        batch = torch.zeros((len(group), width), dtype=torch.long)
        mask = torch.zeros((len(group), width), dtype=torch.long)
        for row, window in enumerate(group):
            batch[row, : len(window.tokens)] = torch.tensor(window.tokens)
            mask[row, : len(window.tokens)] = 1
        tensors.append((batch.to(loaded.device), mask.to(loaded.device)))
    synchronize(loaded.device)
    started = time.perf_counter()
    with torch.inference_mode():
        for batch, mask in tensors:
            logits = loaded.model(input_ids=batch, attention_mask=mask).logits
            torch.logsumexp(logits[:, :-1].float(), dim=-1)
    synchronize(loaded.device)
    return time.perf_counter() - started, sum(len(w.tokens) - 1 for w in items), None


def run_naive(
    args: argparse.Namespace, docs: list[str], dtype: str
) -> tuple[float, int, list[float]]:
    loaded = load_cached(args.model, dtype, args.device)
    bos = loaded.tokenizer.bos_token_id
    synchronize(loaded.device)
    started = time.perf_counter()
    tokens, losses = 0, []
    with torch.inference_mode():
        for text in docs:
            ids = [bos] + loaded.tokenizer(text, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([ids[: args.max_length]], device=loaded.device)
            losses.append(float(loaded.model(input_ids=ids, labels=ids).loss))
            tokens += ids.shape[1] - 1
    return time.perf_counter() - started, tokens, losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=96)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--texts", type=Path)
    parser.add_argument("--batch-tokens", type=int, help="default: lm_score's for the device")
    args = parser.parse_args()
    docs = texts(args.docs, args.texts)
    where = (
        torch.cuda.get_device_name(0)
        if args.device.startswith("cuda")
        else f"CPU ({torch.get_num_threads()} threads)"
    )
    from goldpan.models.precision import cpu_features_line

    print(f"{len(docs)} documents, {args.model} on {where}, up to {args.max_length} tokens each")
    print(f"CPU: {cpu_features_line()}")
    print(
        f"{'dtype':<9} {'ours tok/s':>11} {'limit tok/s':>12} {'naive tok/s':>12} "
        f"{'ours/limit':>11} {'ours/naive':>11} {'max |loss diff|':>16}"
    )
    for dtype in ("float32", "bfloat16"):
        # Load and warm up outside the clock; on a GPU every batch shape once, for all three
        # (kernel choice and the allocator's pools are per shape).
        warm_up = docs if args.device.startswith("cuda") else docs[:4]
        run_ours(args, warm_up, dtype)
        if args.device.startswith("cuda"):
            run_limit(args, warm_up, dtype)
            run_naive(args, warm_up, dtype)
        ours = run_ours(args, docs, dtype)
        limit = run_limit(args, docs, dtype)
        naive = run_naive(args, docs, dtype)
        rates = [run[1] / run[0] for run in (ours, limit, naive)]
        # The same losses as the naive loop, up to float rounding: batching changes nothing.
        difference = max(abs(a - b) for a, b in zip(ours[2], naive[2], strict=True))
        print(
            f"{dtype:<9} {rates[0]:>11,.0f} {rates[1]:>12,.0f} {rates[2]:>12,.0f} "
            f"{rates[0] / rates[1]:>11.2f} {rates[0] / rates[2]:>11.2f} {difference:>16.4f}"
        )


if __name__ == "__main__":
    main()
