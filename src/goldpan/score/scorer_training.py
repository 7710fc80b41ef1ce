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
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import xxhash
import yaml
from pydantic import Field

from goldpan.errors import GoldpanError
from goldpan.train.checkpoints import Checkpoint
from goldpan.train.config import TrainConfig
from goldpan.train.examples import Encoded
from goldpan.train.losses import example_losses
from goldpan.train.method_run import MethodRun, Phase, run_key
from goldpan.train.trainer import StepHook, Trainer, autocast
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
    members: int = Field(
        1, ge=1, description="Scorer pairs to train, with seeds seed, seed + 1, ... (each its "
        "own sample, tokenizer, order and initialisation; OUT/member-I): S is their mean, "
        "which averages out one pair's seed noise (issue 34).",
    )
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


def train_tokenizer(
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


def _examples(pieces: list[list[int]]) -> list[Encoded]:
    """Chunks as training examples: every token after the start token is learned."""
    return [Encoded(input_ids=piece, labels=list(piece)) for piece in pieces]


def held_out_loss(
    model, pieces: list[list[int]], pad: int, batch_size: int
) -> float:
    """Mean token loss over the held-out chunks (token-weighted), in eval mode."""
    examples = _examples(pieces)
    losses = example_losses(model, examples, pad, batch_size)
    return sum(loss for loss, _ in losses) / max(sum(count for _, count in losses), 1)


def _training(config: ScorerConfig, steps: int) -> TrainConfig:
    """The scorer's optimiser as the reverse-modeling recipe has it: AdamW (0.9, 0.95) with
    weight decay, warm-up then cosine decay to a tenth of the peak rate, clipping at 1.0."""
    return TrainConfig(
        learning_rate=config.learning_rate, weight_decay=config.weight_decay,
        betas=(0.9, 0.95), batch_size=config.batch_size, schedule="cosine",
        warmup_ratio=min(1.0, config.warmup_steps / max(1, steps)), min_lr_ratio=0.1,
        max_grad_norm=1.0, precision=config.precision, seed=config.seed,
    )


def _planned_steps(examples: list[Encoded], steps: int, config: ScorerConfig
                   ) -> list[list[list[Encoded]]]:
    """``steps`` batches of a seeded order, cycling through the chunks (the same order for
    every direction)."""
    order = list(range(len(examples)))
    random.Random(config.seed).shuffle(order)
    planned = []
    for step in range(steps):
        start = (step * config.batch_size) % max(1, len(order))
        rows = [order[(start + i) % len(order)] for i in range(config.batch_size)]
        planned.append([[examples[r] for r in rows]])
    return planned


def train_direction(run: ScorerRun, direction: str) -> list[dict]:
    """Train one scorer, each chunk led by BOS; resumes from ``out/direction.state.pt``."""
    from goldpan.score.lm import start_id

    reverse = direction == "reverse"
    bos = start_id(run.tokenizer, "bos")  # BOS, or EOS for a pretrained tokenizer without one
    if bos is None:
        raise GoldpanError("train-scorers: the tokenizer has neither a BOS nor an EOS token")
    length = run.config.max_length
    curves = train_model(run, direction, chunks(run.train, bos, length, reverse),
                         {direction: chunks(run.held_out, bos, length, reverse)},
                         run.config.steps)
    return curves[direction]


def train_joint(run: ScorerRun) -> dict[str, list[dict]]:
    """One scorer for every direction, each chunk led by its direction token; twice the steps,
    so each direction sees the budget of a separate scorer. Saved as ``out/joint``."""
    from goldpan.score.lm import DIRECTION_TOKENS

    config = run.config
    pieces: list[list[int]] = []
    evaluations: dict[str, list[list[int]]] = {}
    for direction in config.directions:
        token = run.tokenizer.convert_tokens_to_ids(DIRECTION_TOKENS[direction])
        reverse = direction == "reverse"
        pieces += chunks(run.train, token, config.max_length, reverse)
        evaluations[direction] = chunks(run.held_out, token, config.max_length, reverse)
    return train_model(run, "joint", pieces, evaluations, config.steps * len(config.directions))


def _scratch_model(tokenizer, config: ScorerConfig):
    """A Llama-style decoder of the configured size, initialised with the seed."""
    import torch
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(config.seed)
    return LlamaForCausalLM(LlamaConfig(
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
    ))


def _curve_hook(evaluations: dict[str, list[list[int]]], curves: dict[str, Any],
                config: ScorerConfig, pad: int) -> StepHook:
    """Held-out loss per evaluation set every ``eval_every`` steps of each direction."""
    share = len(evaluations)  # tokens per step are split between the directions trained

    def evaluate(trainer: Trainer, step: int, loss: float | None) -> None:
        if step % (config.eval_every * share) != 0 and step != trainer.total_steps:
            return
        for key, evaluation in evaluations.items():
            with autocast(trainer.precision, trainer.device):
                held_out = held_out_loss(trainer.model, evaluation, pad, config.batch_size)
            curves.setdefault(key, []).append({
                "step": step // share,
                "tokens": step * config.batch_size * config.max_length // share,
                "train_loss": loss,
                "held_out_loss": held_out,
            })

    return evaluate


def _progress_hook(progress: Any, name: str, steps: int) -> StepHook:
    task = progress.add_task(f"train {name} scorer", total=steps, completed=0)

    def report(trainer: Trainer, step: int, loss: float | None) -> None:
        progress.update(task, completed=step, loss="" if loss is None else f"{loss:.4f}")

    return report


def train_model(
    run: ScorerRun,
    name: str,
    pieces: list[list[int]],
    evaluations: dict[str, list[list[int]]],
    steps: int,
) -> dict[str, list[dict]]:
    """Train a Llama-style LM from scratch on ``pieces`` in a seeded order on ``Trainer``;
    held-out curves per evaluation set; resumes from ``out/NAME.state.pt`` (saved every
    ``save_every`` steps under ``key``); the model goes to ``out/NAME``."""
    config, out, tokenizer = run.config, run.out, run.tokenizer
    model = (_pretrained_model(tokenizer, config) if config.init_from
             else _scratch_model(tokenizer, config))
    model.to(_device(config))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0  # masked anyway
    trainer = Trainer(model, _training(config, steps), pad)
    curves: dict[str, Any] = {direction: [] for direction in evaluations}
    checkpoint = Checkpoint(out / f"{name}.state.pt", config.save_every, run.key, curves)
    examples = _examples(pieces)
    hooks = [_curve_hook(evaluations, curves, config, pad)]
    if run.progress is not None:
        hooks.append(_progress_hook(run.progress, name, steps))
    trainer.fit(examples, _planned_steps(examples, steps, config), hooks, checkpoint)
    model.to("cpu")
    if config.init_from and config.lora:
        model = model.merge_and_unload()  # a plain model: lm_score loads it like any other
    model.save_pretrained(out / name)
    tokenizer.save_pretrained(out / name)
    return {direction: curves[direction] for direction in evaluations}


def _device(config: ScorerConfig) -> str:
    from goldpan.models.load import default_device

    return default_device() if config.device == "auto" else config.device


def _pretrained_model(tokenizer, config: ScorerConfig):
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


def pretrained_tokenizer(config: ScorerConfig, folder: Path):
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


def _texts_digest(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(xxhash.xxh3_64_digest(text.encode("utf-8", "surrogatepass")))
    return digest.hexdigest()[:16]


@dataclass
class ScorerRun:
    """What the phases of scorer training hand to each other."""

    config: ScorerConfig
    out: Path
    key: str
    train_texts: list[str]
    held_out_texts: list[str]
    progress: Any
    tokenizer: Any = None
    train: list[list[int]] = field(default_factory=list)
    held_out: list[list[int]] = field(default_factory=list)

    def curves_file(self, name: str) -> Path:
        return self.out / f"{name}.curves.json"


def _make_tokenizer(run: ScorerRun) -> None:
    from goldpan.score.lm import DIRECTION_TOKENS

    config, folder = run.config, run.out / "tokenizer"
    if config.init_from:
        run.tokenizer = pretrained_tokenizer(config, folder)
    else:
        extra = [DIRECTION_TOKENS[d] for d in config.directions] if config.joint else None
        run.tokenizer = train_tokenizer(run.train_texts, config.vocab_size, folder, extra)
    _encode(run)


def _load_tokenizer(run: ScorerRun) -> None:
    from transformers import AutoTokenizer

    run.tokenizer = AutoTokenizer.from_pretrained(run.out / "tokenizer")
    _encode(run)


def _encode(run: ScorerRun) -> None:
    encode = run.tokenizer
    run.train = encode(run.train_texts, add_special_tokens=False)["input_ids"]
    run.held_out = encode(run.held_out_texts, add_special_tokens=False)["input_ids"]


def _direction_phase(direction: str) -> Callable[[ScorerRun], None]:
    def train_one(run: ScorerRun) -> None:
        curves = train_direction(run, direction)
        atomic_write_json(run.curves_file(direction), {direction: curves})

    return train_one


def _joint_phase(run: ScorerRun) -> None:
    curves = train_joint(run)
    atomic_write_json(run.curves_file("joint"), curves)


def scorer_phases(config: ScorerConfig) -> list[Phase[ScorerRun]]:
    """The tokenizer, then one model per direction (or one joint model)."""
    models = ([Phase("joint", _joint_phase)] if config.joint
              else [Phase(d, _direction_phase(d)) for d in config.directions])
    return [Phase("tokenizer", _make_tokenizer, _load_tokenizer), *models]


def train_scorers(
    texts: list[str], out: str | Path, config: ScorerConfig | None = None, progress=None
) -> dict:
    """Tokenizer, then one scorer per direction; returns and writes the loss curves. A rerun
    on the same data and settings resumes (finished phases skipped, a model in training from
    its last checkpoint); anything else starts afresh."""
    config = config or ScorerConfig()
    out = Path(out)
    if config.members > 1:
        return _train_members(texts, out, config, progress)
    texts = [t for t in texts if t and t.strip()]
    if len(texts) < 10:
        raise GoldpanError("train-scorers: need at least 10 non-empty documents")
    rng = random.Random(config.seed)
    sample = rng.sample(texts, min(len(texts), config.sample_docs + config.held_out_docs))
    held_out_texts = sample[: min(config.held_out_docs, len(sample) // 10 or 1)]
    train_texts = sample[len(held_out_texts) :]
    key = run_key(config=config.model_dump(mode="json"), texts=_texts_digest(train_texts))
    run = ScorerRun(config, out, key, train_texts, held_out_texts, progress)
    phases = scorer_phases(config)
    MethodRun(out, key, phases).run(run)
    curves: dict[str, Any] = {}
    for phase in phases[1:]:
        curves.update(json.loads(run.curves_file(phase.name).read_text()))
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


def member_folder(out: Path, member: int) -> Path:
    return out / f"member-{member}"


def member_suffix(member: int) -> str:
    """The first member writes the usual columns (fwd_loss, n_tokens), the others suffixed."""
    return "" if member == 0 else f"_{member}"


def _train_members(texts: list[str], out: Path, config: ScorerConfig, progress: Any) -> dict:
    """``members`` scorer pairs, one per seed, each trained (and resumed) as a single pair."""
    reports = [
        train_scorers(texts, member_folder(out, member),
                      config.model_copy(update={"seed": config.seed + member, "members": 1}),
                      progress)
        for member in range(config.members)
    ]
    report = {
        "config": config.model_dump(mode="json"),
        "members": reports,
        "curves": {f"{name} (member {member})": curve
                   for member, one in enumerate(reports) for name, curve in one["curves"].items()},
    }
    atomic_write_json(out / "curves.json", report)
    atomic_write_text(out / "steps.yaml", yaml.safe_dump(scoring_steps(out, config),
                                                         sort_keys=False))
    return report


def scoring_steps(out: Path, config: ScorerConfig) -> list[dict[str, Any]]:
    """The recipe steps that score with exactly these scorers: ``lm_score`` per direction (the
    joint model with its direction tokens, or each direction's model after BOS), at the
    context they were trained on, then ``reverse_score`` (S) when both directions exist; with
    several members, every member's ``lm_score`` steps (columns suffixed) and S averaged."""
    members = [(member_folder(out, m), member_suffix(m)) for m in range(config.members)]
    if config.members == 1:
        members = [(out, "")]
    steps: list[dict[str, Any]] = []
    for folder, suffix in members:
        for direction in config.directions:
            steps.append({
                "name": "lm_score",
                "model": str((folder / ("joint" if config.joint else direction)).resolve()),
                "direction": direction, "max_length": config.max_length,
                "stride": config.max_length // 2,
                "start_token": "direction" if config.joint else "bos",
                **({"suffix": suffix} if suffix else {}),
            })
    if {"forward", "reverse"} <= set(config.directions):
        average = {"members": [suffix for _, suffix in members]} if config.members > 1 else {}
        steps.append({"name": "reverse_score", **average})
    return steps
