"""Seconds per local-influence data point (Montessori-Instruct): goldpan's in-memory restore
against reloading the warmed-up student from disk for every probe (the reference code's way),
same student, same probes, same reference set, on this machine.

Both paths warm the student up once (SFT on --warmup examples, AdamW), then for each probe take
one optimiser step on it alone and measure the reference loss. goldpan runs both of its ways:
``lookahead`` (the default: the AdamW update computed from the moments without changing them,
the weights put back from one kept copy) and ``snapshot`` (a real step, then weights and
optimiser state copied back in place); the disk path saves the warm-up weights (safetensors)
and optimiser state (torch.save) once and loads both for every probe. The influences of all
paths are compared (they must agree), and the memory each of goldpan's ways keeps besides the
model and its optimiser is counted tensor by tensor.

    python benchmarks/influence.py [--model smollm2-135m-instruct] [--probes 8] [--reference 8]
        [--pairs FILE.jsonl]

--pairs takes instruction/response JSONL instead of the packaged ShareGPT first turns (for a
machine without the demo packages); --model any ``models.load`` spec.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from goldpan.models.load import load
from goldpan.synth.influence import local_influences, restore, snapshot
from goldpan.train import TrainConfig, Trainer, encode_example, mean_loss, pad_id


def tensor_bytes(tensors) -> int:  # type: ignore[no-untyped-def]
    return sum(t.numel() * t.element_size() for t in tensors if hasattr(t, "numel"))


def examples(count: int, path: Path | None) -> list[tuple[str, str]]:
    if path is not None:
        rows = [json.loads(line) for line in path.open()]
        return [(r["instruction"], r["response"]) for r in rows][:count]
    from goldpan.data.demo_corpus import first_turns

    pairs = []
    for turn in first_turns():
        instruction, response = turn["instruction"], turn["response"]
        if len(instruction) < 400 and len(response) < 800:
            pairs.append((instruction, response))
            if len(pairs) >= count:
                break
    return pairs


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--probes", type=int, default=8)
    parser.add_argument("--reference", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--pairs", type=Path)
    args = parser.parse_args()
    loaded = load(args.model, "float32")
    tokenizer, model = loaded.tokenizer, loaded.model
    pad = pad_id(tokenizer)
    data = [
        encode_example(tokenizer, i, r, args.max_length)
        for i, r in examples(args.warmup + args.probes + args.reference, args.pairs)
    ]
    warmup, probes = data[: args.warmup], data[args.warmup : args.warmup + args.probes]
    reference = data[args.warmup + args.probes :]
    config = TrainConfig(learning_rate=args.lr, batch_size=4, max_grad_norm=None)
    trainer = Trainer(model, config, pad)
    trainer.fit(warmup)
    optimizer = trainer.optimizer
    device = loaded.device
    print(
        f"student {args.model} ({sum(p.numel() for p in model.parameters()) / 1e6:.0f}M "
        f"parameters) on {device}, {len(probes)} probes, reference set of {len(reference)}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "warmup"
        model.save_pretrained(folder)
        torch.save(optimizer.state_dict(), folder / "optimizer.pt")

        started = time.perf_counter()
        ours = local_influences(trainer, probes, reference)
        ours_seconds = (time.perf_counter() - started) / len(probes)
        lookahead_bytes = tensor_bytes(trainer._kept or [])
        started = time.perf_counter()
        snapshotted = local_influences(trainer, probes, reference, method="snapshot")
        snapshot_seconds = (time.perf_counter() - started) / len(probes)
        kept = snapshot(model, optimizer)
        snapshot_bytes = tensor_bytes(kept.parameters) + tensor_bytes(
            v for state in kept.optimizer_state.values() for v in state.values())
        del kept

        started = time.perf_counter()
        disk = []
        before = ours[0].before  # L0 once, as on the in-memory path
        for probe in probes:
            student = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).to(device)
            student_trainer = Trainer(student, config, pad)
            student_trainer.optimizer.load_state_dict(torch.load(folder / "optimizer.pt"))
            student_trainer.step([[probe]])
            disk.append(before - mean_loss(student, reference, pad))
            del student, student_trainer
        disk_seconds = (time.perf_counter() - started) / len(probes)
        # The part that differs, alone: restoring in memory against loading from disk.
        saved = snapshot(model, optimizer)
        started = time.perf_counter()
        for _ in range(3):
            restore(model, optimizer, saved)
        synchronize(device)
        restore_seconds = (time.perf_counter() - started) / 3
        started = time.perf_counter()
        for _ in range(3):
            student = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).to(device)
            student_optimizer = torch.optim.AdamW(student.parameters(), lr=args.lr)
            student_optimizer.load_state_dict(torch.load(folder / "optimizer.pt"))
            del student, student_optimizer
        synchronize(device)
        reload_seconds = (time.perf_counter() - started) / 3
    difference = max(abs(a.value - b) for a, b in zip(ours, disk, strict=True) if a is not None)
    between = max(abs(a.value - b.value) for a, b in zip(ours, snapshotted, strict=True)
                  if a is not None and b is not None)
    print(f"goldpan, lookahead: {ours_seconds:.2f} s per data point, keeps "
          f"{lookahead_bytes / 2**20:.0f} MiB")
    print(f"goldpan, snapshot: {snapshot_seconds:.2f} s per data point, keeps "
          f"{snapshot_bytes / 2**20:.0f} MiB; max |influence difference| to lookahead "
          f"{between:.2e}")
    print(f"reload from disk each time: {disk_seconds:.2f} s per data point")
    print(
        f"speed-up (lookahead): {disk_seconds / ours_seconds:.1f}x; max |influence difference| "
        f"{difference:.2e}"
    )
    print(
        f"restore alone: {restore_seconds:.3f} s, reload alone: {reload_seconds:.3f} s "
        f"({reload_seconds / restore_seconds:.0f}x)"
    )


if __name__ == "__main__":
    main()
