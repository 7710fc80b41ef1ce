"""Chat tokens with assistant-only loss masks: goldpan's ``tokenize`` step against TRL's
dataset preparation (``SFTTrainer._prepare_dataset`` with ``assistant_only_loss=True``), on the
same ShareGPT conversations with SmolLM2-135M-Instruct's tokenizer.

- TRL: the training template (SmolLM2's rendering with ``{% generation %}`` marks, shipped as
  ``smollm2-generation``); its preparation tokenizes each conversation through ``datasets.map``,
  folds the masks into labels, truncates and drops fully masked rows. One process
  (``dataset_num_proc`` unset), as goldpan's step runs in one worker.
- goldpan ``generation``: ``Tokenize.process`` on a table of the records (what a worker runs per
  part) with the same marked template.
- goldpan ``prefix``: the same step on SmolLM2's own template, which has no marks: each
  conversation prefix is rendered and checked as a token prefix.

Ids and masks must be identical across all three for every conversation (TRL's mask read from
its labels). Each side runs --repeats times in turn; medians are compared.

Packing: the same token sequences packed into --pack-tokens sequences by goldpan's
best-fit-decreasing (``data.token_shards.best_fit_decreasing``) and TRL's
``pack_dataset(strategy="bfd")``: packs, efficiency (tokens / (packs x length)) and time.

    python benchmarks/chat.py [--conversations 600] [--repeats 3]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from typing import Any

import numpy as np
import pyarrow as pa


def demo_conversations(count: int) -> list[dict[str, Any]]:
    """ShareGPT conversations in the order the package stores them, those whose turns are in
    chat order (chat_filter's roles rule) and under 2,048 tokens rendered."""
    from goldpan.curate.chat_filter import roles_in_order
    from goldpan.data.chat_layouts import BadConversation, chat_from_row
    from goldpan.data.demo_chat import sharegpt_items

    rows = []
    for number, item in enumerate(sharegpt_items()):
        try:
            turns = chat_from_row(item, "sharegpt")
        except BadConversation:
            continue
        if roles_in_order(turns) and all(t["content"].strip() for t in turns):
            rows.append({"id": f"sg-{number}", "messages": turns})
        if len(rows) >= count * 2:
            break
    return rows


def goldpan_side(rows: list[dict[str, Any]], template: str | None) -> tuple[float, dict]:
    from goldpan.data.chat_records import turns_array
    from goldpan.data.schema import LOSS_MASK, TOKENS
    from goldpan.score.tokenize import Tokenize

    step = Tokenize(Tokenize.Options(tokenizer="smollm2-135m-instruct", chat_template=template))
    _ = step._chat  # the tokenizer loads once per worker, outside the timing
    table = pa.table({"id": [r["id"] for r in rows], "text": [""] * len(rows),
                      "source": ["sharegpt"] * len(rows),
                      "messages": turns_array([r["messages"] for r in rows])})
    started = time.perf_counter()
    result = step.process(table)
    seconds = time.perf_counter() - started
    ids = [np.frombuffer(v, np.uint16).tolist() for v in result.column(TOKENS).to_pylist()]
    masks = [np.frombuffer(v, np.uint8).tolist() for v in result.column(LOSS_MASK).to_pylist()]
    return seconds, dict(zip(table.column("id").to_pylist(), zip(ids, masks, strict=True),
                             strict=True))


def trl_side(rows: list[dict[str, Any]], scratch: str) -> tuple[float, dict]:
    import datasets
    import trl
    from transformers import LlamaConfig, LlamaForCausalLM

    from goldpan.models.chat_tokens import load_chat_tokenizer

    datasets.disable_progress_bars()
    tokenizer = load_chat_tokenizer("smollm2-135m-instruct", "smollm2-generation")
    dataset = datasets.Dataset.from_list(rows)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, eos_token_id=tokenizer.eos_token_id))
    args = trl.SFTConfig(output_dir=scratch, assistant_only_loss=True, max_length=None,
                         report_to=[], use_cpu=True, bf16=False)
    trainer = trl.SFTTrainer(model=model, processing_class=tokenizer,
                             train_dataset=dataset.select(range(2)), args=args)
    started = time.perf_counter()
    prepared = trainer._prepare_dataset(dataset, tokenizer, args, packing=False,
                                        formatting_func=None, dataset_name="bench")
    seconds = time.perf_counter() - started
    out = {}
    for row in prepared:
        mask = [int(label != -100) for label in row["labels"]]
        out[row["id"]] = (row["input_ids"], mask)
    return seconds, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pack-tokens", type=int, default=2048)
    args = parser.parse_args()
    rows = demo_conversations(args.conversations)
    from goldpan.models.chat_tokens import load_chat_tokenizer

    tokenizer = load_chat_tokenizer("smollm2-135m-instruct")
    lengths = [len(x) for x in tokenizer.apply_chat_template(
        [r["messages"] for r in rows], tokenize=True, return_dict=True)["input_ids"]]
    rows = [r for r, n in zip(rows, lengths, strict=True) if n <= 2048][: args.conversations]
    turns = sum(len(r["messages"]) for r in rows)
    print(f"{len(rows)} ShareGPT conversations, {turns} turns, SmolLM2-135M-Instruct's tokenizer")
    times: dict[str, list[float]] = {"trl": [], "generation": [], "prefix": []}
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.repeats):
            seconds, results["trl"] = trl_side(rows, scratch)
            times["trl"].append(seconds)
            seconds, results["generation"] = goldpan_side(rows, "smollm2-generation")
            times["generation"].append(seconds)
            seconds, results["prefix"] = goldpan_side(rows, None)
            times["prefix"].append(seconds)
    for a, b in itertools.combinations(results, 2):
        assert results[a] == results[b], f"{a} and {b} differ in ids or masks"
    tokens = sum(len(ids) for ids, _ in results["trl"].values())
    print(f"ids and masks identical on all {len(rows)} conversations ({tokens:,} tokens)")
    trl_median = statistics.median(times["trl"])
    for name, label in (("trl", "TRL SFTTrainer._prepare_dataset"),
                        ("generation", "goldpan tokenize, generation marks"),
                        ("prefix", "goldpan tokenize, prefixes (own template)")):
        median = statistics.median(times[name])
        print(f"{label:44s} {median:7.3f} s  {len(rows) / median:8.1f} conv/s  "
              f"{trl_median / median:5.2f}x TRL")
    packing([ids for ids, _ in results["trl"].values()], args.pack_tokens, args.repeats)


def packing(sequences: list[list[int]], length: int, repeats: int) -> None:
    import datasets
    from trl.data_utils import pack_dataset

    from goldpan.data.token_shards import best_fit_decreasing

    tokens = sum(len(s) for s in sequences)
    sizes = np.array([len(s) for s in sequences], np.int64)
    dataset = datasets.Dataset.from_list([{"input_ids": s} for s in sequences])
    ours, theirs = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        _, pack_of = best_fit_decreasing(sizes, length)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        packed = pack_dataset(dataset, seq_length=length, strategy="bfd")
        theirs.append(time.perf_counter() - started)
    for label, packs, seconds in (("goldpan best-fit-decreasing", int(pack_of.max()) + 1, ours),
                                  ("TRL pack_dataset bfd", len(packed), theirs)):
        print(f"{label:44s} {packs:5d} packs of {length}  efficiency "
              f"{tokens / (packs * length):.4f}  {statistics.median(seconds) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
