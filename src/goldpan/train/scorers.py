"""``goldpan train-scorers``: the forward and reverse scorer LMs of the reverse-modeling score.

Pretrained LMs cannot score reversed text, so Yu et al. (2024) train both scorers from scratch:
the same Llama-style architecture, the same tokenizer, the same documents in the same order and
the same token budget; one reads the token ids forwards, the other reversed. Here: a byte-level
BPE tokenizer trained on a sample of the corpus (or a given one), documents cut into chunks of
``max_length`` tokens each led by BOS (as ``lm_score`` reads them), a held-out slice scored
every ``eval_every`` steps (the loss curves land in ``curves.json``), AdamW with warm-up and
cosine decay, HF checkpoints in ``OUT/forward`` and ``OUT/reverse``. A run resumes from its
last saved step: the data order is fixed by the seed, so the continuation is the same run.

With ``joint``, one model learns both directions instead (the paper's alternative of a single
bidirectional scorer): every chunk is led by a direction token, ``<fwd>`` or ``<rev>``, in place
of BOS, the two directions' chunks are shuffled together, and the model trains for twice the
steps, so each direction gets the token budget a separate scorer would. ``lm_score`` reads it
with ``start_token: direction``. Held-out curves are still written per direction.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any, ClassVar, Literal

import xxhash
import yaml
from pydantic import Field

from goldpan.errors import GoldpanError
from goldpan.models.batching import attention_mask, pad_right
from goldpan.models.memory import evaluating
from goldpan.train.config import TrainConfig
from goldpan.train.examples import IGNORE
from goldpan.train.losses import response_loss_sum
from goldpan.train.schedules import lr_multiplier
from goldpan.util.atomic import atomic_write_json, atomic_write_text
from goldpan.util.method_config import MethodConfig


class ScorerConfig(MethodConfig):
    """Sizes and schedule of the reverse-modeling scorer pair (Yu et al. 2024 train both from
    scratch, same architecture, tokenizer, data order and budget). The defaults train both in
    minutes on 2 cores; the paper's scorers are far larger, so ``paper`` here means its recipe,
    not its scale. ``gpu``: a pair of about 35 M parameters each at a 512-token context, about
    one pass over the demo corpus (10 M tokens per direction), minutes on one GPU."""

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "gpu": {
            "vocab_size": 16384, "hidden_size": 512, "layers": 8, "heads": 8,
            "intermediate_size": 1536, "max_length": 512, "batch_size": 32, "steps": 600,
            "learning_rate": 1e-3, "warmup_steps": 60, "sample_docs": 12000,
            "held_out_docs": 300, "eval_every": 100, "save_every": 200,
        },
    }

    vocab_size: int = Field(4096, gt=3, description="BPE vocabulary trained on the sample.")
    hidden_size: int = Field(128, gt=0, description="Llama-style decoder width.")
    layers: int = Field(4, gt=0, description="Decoder layers.")
    heads: int = Field(4, gt=0, description="Attention heads.")
    intermediate_size: int = Field(384, gt=0, description="MLP width.")
    max_length: int = Field(128, gt=2, description="Tokens per training chunk, BOS included.")
    batch_size: int = Field(16, gt=0, description="Chunks per step.")
    steps: int = Field(
        300, gt=0, description="Optimiser steps per direction (budget: steps x batch x length)."
    )
    learning_rate: float = Field(2e-3, gt=0, description="Peak AdamW rate.")
    warmup_steps: int = Field(20, ge=0, description="Linear warm-up, then cosine to 10%.")
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay.")
    sample_docs: int = Field(
        4000, gt=0, description="Documents drawn from the corpus for tokenizer and training."
    )
    held_out_docs: int = Field(200, ge=0, description="Documents kept for the loss curves.")
    eval_every: int = Field(25, gt=0, description="Steps between held-out evaluations.")
    save_every: int = Field(50, gt=0, description="Steps between resumable checkpoints.")
    seed: int = Field(0, description="Sampling, data order and initialisation.")
    directions: list[str] = Field(
        default_factory=lambda: ["forward", "reverse"], description="Scorers to train."
    )
    joint: bool = Field(
        False, description="One model for all directions, each chunk led by its direction token."
    )
    init_from: str | None = Field(
        None, description="Start every scorer from this pretrained model (a models.load spec) "
        "and its tokenizer instead of from scratch: both directions continue from the same "
        "weights, the reverse one adapting to reversed token ids.",
    )
    lora: bool = Field(
        False, description="With init_from: train LoRA adapters (merged into the saved scorer) "
        "instead of every weight.",
    )
    device: str = Field(
        "auto", description="Where to train: auto (the first GPU when there is one), cpu, cuda."
    )
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="bfloat16 autocast (float32 master weights) or float32; auto: "
        "bfloat16 on a GPU, float32 on a CPU.",
    )


def _atomic_torch_save(payload: Any, path: Path) -> None:
    import torch

    tmp = path.with_name(f".tmp-{path.name}")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def train_tokenizer(  # type: ignore[no-untyped-def]
    texts: list[str], vocab_size: int, folder: Path, extra_tokens: list[str] | None = None
):
    """A byte-level BPE tokenizer (no unknown tokens) with <s>, </s>, <pad> and any extra
    special tokens (the direction tokens of a joint scorer)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<s>", "</s>", "<pad>", *(extra_tokens or [])],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=list(extra_tokens or []),
    )
    fast.save_pretrained(folder)
    return fast


def chunks(
    token_lists: list[list[int]], start: int, max_length: int, reverse: bool
) -> list[list[int]]:
    """Each document's tokens (reversed for the reverse scorer) in pieces led by the start
    token (BOS, or the direction token of a joint scorer)."""
    pieces = []
    for tokens in token_lists:
        ordered = tokens[::-1] if reverse else tokens
        for begin in range(0, len(ordered), max_length - 1):
            piece = ordered[begin : begin + max_length - 1]
            if piece:
                pieces.append([start, *piece])
    return pieces


def _batch(pieces: list[list[int]], pad: int, device: str = "cpu"):  # type: ignore[no-untyped-def]
    """(ids, mask, labels) of chunks; padding carries no label."""
    import torch

    ids = torch.from_numpy(pad_right(pieces, pad)).to(device)
    mask = torch.from_numpy(attention_mask(pieces)).to(device)
    return ids, mask, ids.masked_fill(mask == 0, IGNORE)


def held_out_loss(  # type: ignore[no-untyped-def]
    model, pieces: list[list[int]], pad: int, batch_size: int, device: str = "cpu"
) -> float:
    """Mean token loss over the held-out chunks (token-weighted), in eval mode."""
    total, count = 0.0, 0
    with evaluating(model):
        for start in range(0, len(pieces), batch_size):
            ids, mask, labels = _batch(pieces[start : start + batch_size], pad, device)
            loss, tokens = response_loss_sum(model, ids, mask, labels)
            total += float(loss)
            count += tokens
    return total / max(count, 1)


def _schedule(step: int, config: ScorerConfig) -> float:
    """Warm-up, then cosine decay to a tenth of the peak rate."""
    schedule = TrainConfig(
        schedule="cosine",
        warmup_ratio=min(1.0, config.warmup_steps / max(1, config.steps)),
        min_lr_ratio=0.1,
    )
    return lr_multiplier(step, config.steps, schedule)


def train_direction(
    direction: str,
    train: list[list[int]],
    held_out: list[list[int]],
    tokenizer,
    config: ScorerConfig,
    out: Path,
    progress=None,
) -> list[dict]:  # type: ignore[no-untyped-def]
    """Train one scorer; resumes from ``out/direction.state.pt`` when it exists."""
    from goldpan.score.lm import start_id

    reverse = direction == "reverse"
    bos = start_id(tokenizer, "bos")  # BOS, or EOS for a pretrained tokenizer without one
    curves = train_model(
        direction,
        chunks(train, bos, config.max_length, reverse),
        {direction: chunks(held_out, bos, config.max_length, reverse)},
        config.steps,
        tokenizer,
        config,
        out,
        progress,
    )
    return curves[direction]


def train_joint(
    train: list[list[int]],
    held_out: list[list[int]],
    tokenizer,
    config: ScorerConfig,
    out: Path,
    progress=None,
) -> dict[str, list[dict]]:  # type: ignore[no-untyped-def]
    """One scorer for every direction, each chunk led by its direction token; twice the steps,
    so each direction sees the budget of a separate scorer. Saved as ``out/joint``."""
    from goldpan.score.lm import DIRECTION_TOKENS

    pieces: list[list[int]] = []
    evaluations: dict[str, list[list[int]]] = {}
    for direction in config.directions:
        token = tokenizer.convert_tokens_to_ids(DIRECTION_TOKENS[direction])
        reverse = direction == "reverse"
        pieces += chunks(train, token, config.max_length, reverse)
        evaluations[direction] = chunks(held_out, token, config.max_length, reverse)
    steps = config.steps * len(config.directions)
    return train_model("joint", pieces, evaluations, steps, tokenizer, config, out, progress)


def train_model(
    name: str,
    pieces: list[list[int]],
    evaluations: dict[str, list[list[int]]],
    steps: int,
    tokenizer,
    config: ScorerConfig,
    out: Path,
    progress=None,
) -> dict[str, list[dict]]:  # type: ignore[no-untyped-def]
    """Train a Llama-style LM from scratch on ``pieces`` in a seeded order; held-out curves per
    evaluation set; resumes from ``out/NAME.state.pt``; the model goes to ``out/NAME``."""
    import torch
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(config.seed)
    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.layers,
        num_attention_heads=config.heads,
        num_key_value_heads=config.heads,
        max_position_embeddings=config.max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = (_pretrained_model(tokenizer, config) if config.init_from
             else LlamaForCausalLM(model_config))
    device = _device(config)
    model.to(device)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
        betas=(0.9, 0.95),
    )
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0  # masked anyway
    schedule = config.model_copy(update={"steps": steps})
    order = list(range(len(pieces)))
    random.Random(config.seed).shuffle(order)  # the same order for both directions
    state_path = out / f"{name}.state.pt"
    curves: dict[str, list[dict]] = {key: [] for key in evaluations}
    step = 0
    if state_path.exists():
        state = torch.load(state_path, weights_only=True, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, curves = state["step"], state["curves"]
    model.train()
    task = (
        progress.add_task(f"train {name} scorer", total=steps, completed=step)
        if progress is not None
        else None
    )
    share = len(evaluations)  # tokens per step are split between the directions trained
    while step < steps:
        start = (step * config.batch_size) % max(1, len(order))
        rows = [order[(start + i) % len(order)] for i in range(config.batch_size)]
        ids, mask, labels = _batch([pieces[r] for r in rows], pad, device)
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate * _schedule(step, schedule)
        with _autocast(config, device):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if step % (config.eval_every * share) == 0 or step == steps:
            for key, evaluation in evaluations.items():
                curves[key].append(
                    {
                        "step": step // share,
                        "tokens": step * config.batch_size * config.max_length // share,
                        "train_loss": float(loss.detach()),
                        "held_out_loss": _held_out(model, evaluation, pad, config, device),
                    }
                )
        if step % config.save_every == 0 or step == steps:
            _atomic_torch_save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": step,
                    "curves": curves,
                },
                state_path,
            )
        if task is not None:
            progress.update(task, completed=step, loss=f"{float(loss.detach()):.4f}")
    model.to("cpu")
    if config.init_from and config.lora:
        model = model.merge_and_unload()  # a plain model: lm_score loads it like any other
    model.save_pretrained(out / name)
    tokenizer.save_pretrained(out / name)
    return curves


def _device(config: ScorerConfig) -> str:
    from goldpan.models.load import default_device

    return default_device() if config.device == "auto" else config.device


def _autocast(config: ScorerConfig, device: str):  # type: ignore[no-untyped-def]
    """bfloat16 autocast where the precision asks for it (auto: on a GPU); float32 weights."""
    import torch

    bf16 = config.precision == "bfloat16" or (config.precision == "auto" and device != "cpu")
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16)


def _held_out(model, pieces: list[list[int]], pad: int, config: ScorerConfig, device: str) -> float:  # type: ignore[no-untyped-def]
    """Held-out loss at the training precision."""
    with _autocast(config, device):
        return held_out_loss(model, pieces, pad, config.batch_size, device)


def _pretrained_model(tokenizer, config: ScorerConfig):  # type: ignore[no-untyped-def]
    """The pretrained model, its embeddings grown for any added direction token, with LoRA
    adapters when asked."""
    from goldpan.models.load import load

    model = load(config.init_from or "", "float32", device="cpu").model
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    if config.lora:
        from goldpan.train.lora import LoraConfig, add_lora

        model = add_lora(model, LoraConfig())
    return model


def pretrained_tokenizer(config: ScorerConfig, folder: Path):  # type: ignore[no-untyped-def]
    """The pretrained model's own tokenizer (with the direction tokens for a joint scorer),
    saved where a trained one would be."""
    from transformers import AutoTokenizer

    from goldpan.models.load import resolve
    from goldpan.score.lm import DIRECTION_TOKENS

    tokenizer = AutoTokenizer.from_pretrained(resolve(config.init_from or ""))
    if config.joint:
        tokenizer.add_special_tokens(
            {"additional_special_tokens": [DIRECTION_TOKENS[d] for d in config.directions]}
        )
    tokenizer.save_pretrained(folder)
    return tokenizer


def _fingerprint(config: ScorerConfig, texts: list[str]) -> str:
    digest = hashlib.sha256(json.dumps(config.model_dump(mode="json"), sort_keys=True).encode())
    for text in texts:
        digest.update(xxhash.xxh3_64_digest(text.encode("utf-8", "surrogatepass")))
    return digest.hexdigest()[:16]


def train_scorers(
    texts: list[str], out: str | Path, config: ScorerConfig | None = None, progress=None
) -> dict:  # type: ignore[no-untyped-def]
    """Tokenizer, then one scorer per direction; returns and writes the loss curves."""
    config = config or ScorerConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    texts = [t for t in texts if t and t.strip()]
    if len(texts) < 10:
        raise GoldpanError("train-scorers: need at least 10 non-empty documents")
    rng = random.Random(config.seed)
    sample = rng.sample(texts, min(len(texts), config.sample_docs + config.held_out_docs))
    held_out_texts = sample[: min(config.held_out_docs, len(sample) // 10 or 1)]
    train_texts = sample[len(held_out_texts) :]
    # Resuming is only right for the same data and settings: anything else starts afresh.
    fingerprint = _fingerprint(config, train_texts)
    marker = out / "fingerprint.txt"
    if marker.is_file() and marker.read_text().strip() != fingerprint:
        names = [*config.directions, "joint"]
        for stale in [out / "tokenizer", *(out / f"{name}.state.pt" for name in names)]:
            if stale.is_dir():
                shutil.rmtree(stale)
            elif stale.exists():
                stale.unlink()
    atomic_write_text(marker, fingerprint + "\n")
    folder = out / "tokenizer"
    if config.init_from and not (folder / "tokenizer.json").is_file():
        tokenizer = pretrained_tokenizer(config, folder)
    elif (folder / "tokenizer.json").is_file():
        from transformers import PreTrainedTokenizerFast

        tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    else:
        from goldpan.score.lm import DIRECTION_TOKENS

        extra = [DIRECTION_TOKENS[d] for d in config.directions] if config.joint else None
        tokenizer = train_tokenizer(train_texts, config.vocab_size, folder, extra)
    encode = lambda items: tokenizer(items, add_special_tokens=False)["input_ids"]  # noqa: E731
    train, held_out = encode(train_texts), encode(held_out_texts)
    if config.joint:
        curves = train_joint(train, held_out, tokenizer, config, out, progress)
    else:
        curves = {
            d: train_direction(d, train, held_out, tokenizer, config, out, progress)
            for d in config.directions
        }
    report = {
        "config": config.model_dump(mode="json"),
        "train_docs": len(train_texts),
        "held_out_docs": len(held_out_texts),
        "curves": curves,
    }
    atomic_write_json(out / "curves.json", report)
    steps = scoring_steps(out, config)
    atomic_write_text(out / "steps.yaml", yaml.safe_dump(steps, sort_keys=False))
    return report


def scoring_steps(out: Path, config: ScorerConfig) -> list[dict[str, Any]]:
    """The recipe steps that score with exactly these scorers: ``lm_score`` per direction (the
    joint model with its direction tokens, or each direction's model after BOS), at the
    context they were trained on, then ``reverse_score`` (S) when both directions exist."""
    steps: list[dict[str, Any]] = []
    for direction in config.directions:
        folder = out / ("joint" if config.joint else direction)
        steps.append({
            "name": "lm_score", "model": str(folder.resolve()), "direction": direction,
            "max_length": config.max_length, "stride": config.max_length // 2,
            "start_token": "direction" if config.joint else "bos",
        })
    if {"forward", "reverse"} <= set(config.directions):
        steps.append({"name": "reverse_score"})
    return steps
