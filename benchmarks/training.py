"""Tokens per second of one SFT epoch: goldpan.train against TRL's SFTTrainer, side by side.

Same model (SmolLM2-135M-Instruct, the embedded default), the same examples (packaged ShareGPT
first turns, encoded once by goldpan: chat template, response-only labels), the same micro-batch,
learning rate and precision. TRL gets the encoded examples as a processed dataset (input_ids and
completion_mask), so it trains on exactly the same tokens with the same response-only loss.
Each run is a fresh subprocess, so its peak memory (VmHWM) is its own. Tokens per second count
the tokens that carry no padding (prompt and response), over the wall time of the epoch alone
(model loading excluded on both sides).

goldpan is measured twice: with its default length-grouped batches (less padding), and with
plain shuffled batches like TRL's default, so the loop itself is compared as well.

    python benchmarks/training.py [--examples 64] [--batch-size 8] [--max-length 256]
        [--precision float32 bfloat16] [--repeats 1] [--checkpointing]

TRL's SFTConfig turns gradient checkpointing on by default (less memory, more compute); the
comparison sets it the same on both sides, off unless --checkpointing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODEL = "smollm2-135m-instruct"


def encoded_examples(count: int, max_length: int):  # type: ignore[no-untyped-def]
    from goldpan.data.demo_corpus import first_turns
    from goldpan.models.load import load
    from goldpan.train import encode_example

    tokenizer = load(MODEL, "float32").tokenizer
    examples = []
    for turn in first_turns():
        if len(turn["instruction"]) < 1000 and len(turn["response"]) < 2000:
            examples.append(
                encode_example(tokenizer, turn["instruction"], turn["response"], max_length)
            )
            if len(examples) >= count:
                break
    return examples


def run_goldpan(args: argparse.Namespace, grouped: bool) -> dict:
    import torch

    from goldpan.models.load import load
    from goldpan.train import TrainConfig, Trainer, pad_id

    examples = encoded_examples(args.examples, args.max_length)
    torch.manual_seed(0)
    loaded = load(MODEL, "float32")
    config = TrainConfig(
        learning_rate=1e-5,
        batch_size=args.batch_size,
        precision=args.precision,
        max_length=args.max_length,
        group_by_length=grouped,
        max_grad_norm=1.0,
        gradient_checkpointing=args.checkpointing,
    )
    trainer = Trainer(loaded.model, config, pad_id(loaded.tokenizer))
    started = time.perf_counter()
    losses = trainer.fit(examples)
    seconds = time.perf_counter() - started
    tokens = sum(len(e.input_ids) for e in examples)
    return {"seconds": seconds, "tokens": tokens, "loss": statistics.mean(
        x for x in losses if x is not None)}


def run_trl(args: argparse.Namespace) -> dict:
    import torch
    import transformers
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from goldpan.models.load import load
    from goldpan.train import IGNORE

    transformers.utils.logging.set_verbosity_error()
    examples = encoded_examples(args.examples, args.max_length)
    rows = [
        {"input_ids": e.input_ids, "completion_mask": [int(x != IGNORE) for x in e.labels]}
        for e in examples
    ]
    torch.manual_seed(0)
    loaded = load(MODEL, "float32")
    config = SFTConfig(
        output_dir=str(Path(args.scratch) / "trl"),
        learning_rate=1e-5,
        per_device_train_batch_size=args.batch_size,
        num_train_epochs=1,
        max_length=args.max_length,
        completion_only_loss=True,
        bf16=args.precision == "bfloat16",
        fp16=args.precision == "float16",
        max_grad_norm=1.0,
        logging_steps=1000,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        weight_decay=0.0,
        lr_scheduler_type="constant",
        gradient_checkpointing=args.checkpointing,  # TRL turns it on by default
    )
    trainer = SFTTrainer(
        model=loaded.model,
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=loaded.tokenizer,
    )
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    tokens = sum(len(e.input_ids) for e in examples)
    return {"seconds": seconds, "tokens": tokens, "loss": result.training_loss}


def child(args: argparse.Namespace) -> None:
    from peak_memory import peak_rss_mb

    if args.tool == "trl":
        outcome = run_trl(args)
    else:
        outcome = run_goldpan(args, grouped=args.tool == "goldpan")
    outcome["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(outcome))


def measure(args: argparse.Namespace, tool: str, precision: str) -> dict:
    command = [
        sys.executable, __file__, "--child", tool, "--precision-one", precision,
        "--examples", str(args.examples), "--batch-size", str(args.batch_size),
        "--max-length", str(args.max_length), "--scratch", args.scratch,
        *(["--checkpointing"] if args.checkpointing else []),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in output.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise SystemExit(
        f"{tool} ({precision}) failed:\n{output.stdout[-2000:]}\n{output.stderr[-4000:]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--precision", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--scratch", default="/tmp/goldpan-training-bench")
    parser.add_argument(
        "--checkpointing", action="store_true",
        help="gradient checkpointing on both sides (TRL's SFTConfig default; off by default here)",
    )
    parser.add_argument("--child", choices=["goldpan", "goldpan-unsorted", "trl"])
    parser.add_argument("--precision-one")
    args = parser.parse_args()
    if args.child:
        args.tool, args.precision = args.child, args.precision_one
        child(args)
        return
    print(
        f"SFT, one epoch of {args.examples} ShareGPT examples (max {args.max_length} tokens), "
        f"micro-batch {args.batch_size}, {MODEL}, {os.cpu_count()} cores, gradient "
        f"checkpointing {'on' if args.checkpointing else 'off'} on both sides"
    )
    from goldpan.models.precision import cpu_features_line

    print(f"CPU: {cpu_features_line()}")
    print(
        f"{'precision':<10} {'tool':<18} {'tok/s':>8} {'seconds':>8} {'peak MB':>8} {'loss':>7}"
    )
    for precision in args.precision:
        best: dict[str, dict] = {}
        for _ in range(args.repeats):
            for tool in ("goldpan", "goldpan-unsorted", "trl"):
                result = measure(args, tool, precision)
                result["rate"] = result["tokens"] / result["seconds"]
                if tool not in best or result["rate"] > best[tool]["rate"]:
                    best[tool] = result
        for tool, result in best.items():
            print(
                f"{precision:<10} {tool:<18} {result['rate']:>8,.0f} {result['seconds']:>8.1f} "
                f"{result['peak_rss_mb']:>8,.0f} {result['loss']:>7.3f}"
            )
        trl = best["trl"]["rate"]
        print(
            f"{precision:<10} ratio goldpan/TRL {best['goldpan']['rate'] / trl:.2f}x "
            f"(plain batches {best['goldpan-unsorted']['rate'] / trl:.2f}x)"
        )


if __name__ == "__main__":
    main()
