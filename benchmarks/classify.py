"""Classifier throughput: goldpan's ``classify`` step against the raw batched forward pass of
the same model (the limit) and against a transformers ``pipeline("text-classification")``
loop, on CPU (or a GPU with --device cuda).

The model is MiniLM-sized: all-MiniLM-L6-v2's encoder (the packaged copy) under a
sequence-classification head with two labels (the head's weights drawn with a fixed seed: the
speed of a classifier does not depend on what it learned). All three see the same texts of the
embedded corpus, cut to --max-length tokens.

- limit: tokenise all texts at once, sort by length, run the model on batches of --batch-size
  rows padded to their longest, softmax; nothing else.
- classify: ``Classify.process`` on a table of the texts (what a worker runs per part),
  batched by length under its token budget.
- pipeline: ``pipe(text)`` for each text, as a script would.

Each side runs --repeats times in turn; medians are compared. The three must agree on the
probabilities.

    python benchmarks/classify.py [--docs 2000] [--max-length 512] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch


def build_model(folder: Path) -> Path:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from goldpan.models.embeddings import resolve_embedder

    torch.manual_seed(0)
    source = resolve_embedder("all-minilm-l6-v2")
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=2)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return folder


def corpus_texts(count: int) -> list[str]:
    import json

    from goldpan.data.demo_corpus import build_demo_corpus

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "corpus.jsonl"
        build_demo_corpus(path)
        rows = [json.loads(line) for line in path.read_text().split("\n") if line]
    return [row["text"] for row in rows[:count]]


def torch_dtype(name: str) -> torch.dtype:
    from goldpan.models.precision import resolve_dtype

    return getattr(torch, resolve_dtype(name, "cpu"))


def run_limit(folder: Path, texts: list[str], args: argparse.Namespace) -> np.ndarray:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(
        folder, dtype=torch_dtype(args.dtype)).to(args.device).eval()
    encoded = tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    result = np.zeros(len(texts))
    with torch.inference_mode():
        for start in range(0, len(order), args.batch_size):
            rows = order[start:start + args.batch_size]
            batch = tokenizer.pad({"input_ids": [encoded[i] for i in rows]},
                                  return_tensors="pt").to(args.device)
            probabilities = torch.softmax(model(**batch).logits.float(), dim=-1)
            result[rows] = probabilities[:, 1].cpu().numpy()
    return result


def run_ours(folder: Path, texts: list[str], args: argparse.Namespace) -> np.ndarray:
    from goldpan.score.classify import Classify, ClassifyOptions

    step = Classify(ClassifyOptions(models=[{"path": str(folder), "label": "LABEL_1",
                                             "column": "p"}],
                                    max_length=args.max_length, device=args.device,
                                    batch_tokens=args.batch_tokens, dtype=args.dtype,
                                    compile=args.compile))
    table = pa.table({"id": [str(i) for i in range(len(texts))],
                      "text": pa.array(texts, pa.large_string())})
    return np.asarray(step.process(table).column("p").to_pylist())


def run_pipeline(folder: Path, texts: list[str], args: argparse.Namespace) -> np.ndarray:
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(folder), device=args.device, top_k=None,
                    dtype=torch_dtype(args.pipeline_dtype or args.dtype))
    result = []
    for text in texts:
        answer = pipe(text, truncation=True, max_length=args.max_length)
        if answer and isinstance(answer[0], list):  # one list per input in some versions
            answer = answer[0]
        result.append({s["label"]: s["score"] for s in answer}["LABEL_1"])
    return np.asarray(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16, help="The limit's batch rows "
                        "(16 was the fastest of 1-64 on the 2-core machine).")
    parser.add_argument("--batch-tokens", type=int, default=None, help="classify's budget.")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"],
                        help="All three sides (auto, the step's default: bfloat16 where the CPU "
                        "has AMX or AVX512-BF16, else float32).")
    parser.add_argument("--pipeline-dtype", default=None, choices=["float32", "bfloat16"],
                        help="The pipeline loop's precision (default: --dtype); float32 is "
                        "what a script gets without asking.")
    parser.add_argument("--compile", action="store_true", help="classify: torch.compile.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pipeline-docs", type=int, default=500,
                        help="The pipeline loop runs on this many of the texts (it is slow).")
    args = parser.parse_args()
    texts = corpus_texts(args.docs)
    with tempfile.TemporaryDirectory() as scratch:
        folder = build_model(Path(scratch) / "minilm-classifier")
        from goldpan.score.classifier_models import load_classifier

        loaded = load_classifier(str(folder), args.max_length, args.batch_tokens, args.device,
                                 args.dtype, args.compile)  # loaded once, as in a worker
        if args.compile:  # the compilation, once per worker, is not what is timed
            loaded.model.predict(texts[:64])
        run_limit(folder, texts[:64], args)
        times: dict[str, list[float]] = {"limit": [], "classify": [], "pipeline": []}
        outputs: dict[str, np.ndarray] = {}
        few = texts[:args.pipeline_docs]
        for _ in range(args.repeats):
            for name, runner, docs in (("limit", run_limit, texts), ("classify", run_ours, texts),
                                       ("pipeline", run_pipeline, few)):
                started = time.perf_counter()
                outputs[name] = runner(folder, docs, args)
                times[name].append(len(docs) / (time.perf_counter() - started))
    rate = {name: statistics.median(values) for name, values in times.items()}
    agree = float(np.max(np.abs(outputs["classify"] - outputs["limit"])))
    agree_pipe = float(np.max(np.abs(outputs["classify"][:len(few)] - outputs["pipeline"])))
    from goldpan.models.precision import cpu_features_line, resolve_dtype

    print(f"CPU: {cpu_features_line()}; --dtype {args.dtype} runs as "
          f"{resolve_dtype(args.dtype, args.device)}")
    print(f"{len(texts):,} texts of the embedded corpus (pipeline loop: {len(few):,}), "
          f"max {args.max_length} tokens, {args.device}, {args.dtype} (pipeline loop: "
          f"{args.pipeline_dtype or args.dtype}), classify compiled: "
          f"{args.compile}, torch threads "
          f"{torch.get_num_threads()}, median of {args.repeats}")
    print("\n| side | documents/s (median) | runs |")
    print("|---|---:|---|")
    for name in ("limit", "classify", "pipeline"):
        print(f"| {name} | {rate[name]:,.1f} | {', '.join(f'{v:,.1f}' for v in times[name])} |")
    print(f"\nclassify / limit: {rate['classify'] / rate['limit']:.2f}x (goal >= 0.8); "
          f"classify / pipeline loop: {rate['classify'] / rate['pipeline']:.2f}x (goal >= 3)")
    print(f"largest difference in P(LABEL_1): classify vs limit {agree:.2e}, "
          f"classify vs pipeline {agree_pipe:.2e}")


if __name__ == "__main__":
    main()
