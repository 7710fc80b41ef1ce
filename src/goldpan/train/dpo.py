"""Teacher optimisation with TRL's DPOTrainer (Rafailov et al. 2023), as Montessori-Instruct
does: the reference model is the teacher before the update (TRL copies it when no
``ref_model`` is given)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from goldpan.models.memory import release_memory
from goldpan.train.config import Precision, ScheduleName, TrainConfig, resolve_precision
from goldpan.train.schedules import make_scheduler


class DpoConfig(BaseModel):
    """The teacher's DPO update. Defaults: the Montessori-Instruct reference's
    ``configs/templates/dpo_teacher.yml`` (2 pairs a step: ``scripts/templates/dpo_teacher.sh``
    runs one process with ``device_map="auto"``, not one per GPU, and the paper's appendix gives
    train batch 2; WSD schedule 10% warm-up, 50% stable, 40% decay to 0.001 of the peak, no
    weight decay, bf16)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    beta: float = Field(0.1, gt=0, description="KL strength (Montessori-Instruct: 0.1).")
    learning_rate: float = Field(1e-6, gt=0, description="Peak learning rate (paper: 1e-6).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay (reference: 0).")
    epochs: float = Field(1, gt=0, description="Passes over the pairs (paper: 1).")
    batch_size: int = Field(2, gt=0, description="Pairs per micro-batch.")
    gradient_accumulation: int = Field(
        1, gt=0, description="Micro-batches per step (reference: 1, one process; 2 pairs a step)."
    )
    schedule: ScheduleName = Field("wsd", description="Learning-rate schedule (reference: wsd).")
    warmup_ratio: float = Field(0.1, ge=0, le=1, description="Warm-up share (reference: 0.1).")
    decay_ratio: float = Field(0.4, ge=0, le=1, description="wsd decay share (reference: 0.4).")
    min_lr_ratio: float = Field(
        1e-3, ge=0, le=1, description="Floor of the decay (reference: 0.001)."
    )
    max_length: int = Field(1024, gt=1, description="Prompt + response tokens.")
    precision: Precision = Field(
        "auto", description="float32, bfloat16, float16, or auto (bfloat16 on a GPU that "
        "supports it, else float32; the reference trains in bf16)."
    )
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory.")
    seed: int = Field(0, description="Data order.")



def _optimizer_and_schedule(model: Any, settings: DpoConfig, pairs: int) -> tuple[Any, Any]:
    """goldpan's AdamW and schedule, handed to TRL (which would otherwise build its own)."""
    import torch

    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=settings.learning_rate, weight_decay=settings.weight_decay,
    )
    # TRL's count of optimiser steps: micro-batches per epoch // accumulation, times epochs.
    per_epoch = max(1, math.ceil(pairs / settings.batch_size) // settings.gradient_accumulation)
    schedule = TrainConfig(
        learning_rate=settings.learning_rate, schedule=settings.schedule,
        warmup_ratio=settings.warmup_ratio, decay_ratio=settings.decay_ratio,
        min_lr_ratio=settings.min_lr_ratio,
    )
    return optimizer, make_scheduler(optimizer, math.ceil(settings.epochs * per_epoch), schedule)


def _trl_arguments(settings: DpoConfig, out: Path, precision: str) -> Any:
    import torch
    from trl import DPOConfig

    return DPOConfig(
        output_dir=str(out / "_trainer"),
        beta=settings.beta,
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation,
        bf16=precision == "bfloat16",
        fp16=precision == "float16",
        gradient_checkpointing=settings.gradient_checkpointing,
        max_length=settings.max_length,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=settings.seed,
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
    )


class PreferencePair(Protocol):
    """What DPO reads of a pair: the prompt, the preferred output and the other one."""

    @property
    def prompt(self) -> str: ...

    @property
    def chosen(self) -> str: ...

    @property
    def rejected(self) -> str: ...


def dpo_update(
    teacher: str | Path,
    pairs: Sequence[PreferencePair],
    out: str | Path,
    settings: DpoConfig | None = None,
) -> dict[str, Any]:
    """DPO the teacher (an HF folder) on ``prompt, chosen, rejected`` pairs; saves the updated
    teacher to ``out`` and returns TRL's training log."""
    import torch
    import transformers
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOTrainer

    transformers.utils.logging.set_verbosity_error()
    settings = settings or DpoConfig()
    out = Path(out)
    tokenizer = AutoTokenizer.from_pretrained(teacher)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(teacher, dtype=torch.float32)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = resolve_precision(settings.precision, device)
    rows = [{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected} for p in pairs]
    optimizer, scheduler = _optimizer_and_schedule(model, settings, len(rows))
    args = _trl_arguments(settings, out, precision)
    trainer = DPOTrainer(
        model=model,
        ref_model=None,
        optimizers=(optimizer, scheduler),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the log goes into the result, not to stdout
    trainer.train()
    trainer.save_model(str(out))
    tokenizer.save_pretrained(out)
    log = trainer.state.log_history
    del trainer, model  # the policy and TRL's reference copy: two teachers' worth of memory
    release_memory()
    return {"log": log, "pairs": len(rows)}


def preference_margins(model_folder: str | Path, pairs: Sequence[PreferencePair]) -> list[float]:
    """Per pair, log p(chosen | prompt) - log p(rejected | prompt) under a model: with the same
    pairs before and after a DPO update, how far the update moved the model towards the chosen
    outputs (DPO's implicit reward margin, times beta, is the change of this)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_folder)
    model = AutoModelForCausalLM.from_pretrained(model_folder, dtype=torch.float32).eval()

    def log_probability(prompt: str, completion: str) -> float:
        prompt_ids = tokenizer(prompt)["input_ids"]
        ids = prompt_ids + tokenizer(completion, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].float()
        picked = logits.log_softmax(-1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
        return float(picked[len(prompt_ids) - 1 :].sum())

    return [log_probability(p.prompt, p.chosen) - log_probability(p.prompt, p.rejected)
            for p in pairs]
