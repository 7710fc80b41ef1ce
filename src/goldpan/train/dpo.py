"""Teacher optimisation with TRL's DPOTrainer (Rafailov et al. 2023), as Montessori-Instruct
does: the reference model is the teacher before the update (TRL copies it when no
``ref_model`` is given)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class DpoSettings:
    beta: float = 0.1  # the paper's
    learning_rate: float = 1e-6  # the paper's
    epochs: int = 1  # the paper's
    batch_size: int = 2
    max_length: int = 1024
    seed: int = 0


def dpo_update(
    teacher: str | Path,
    pairs: Sequence[dict[str, Any]],
    out: str | Path,
    settings: DpoSettings | None = None,
) -> dict[str, Any]:
    """DPO the teacher (an HF folder) on ``prompt, chosen, rejected`` pairs; saves the updated
    teacher to ``out`` and returns TRL's training log."""
    import torch
    import transformers
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    transformers.utils.logging.set_verbosity_error()
    settings = settings or DpoSettings()
    out = Path(out)
    tokenizer = AutoTokenizer.from_pretrained(teacher)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(teacher, dtype=torch.float32)
    rows = [{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs]
    args = DPOConfig(
        output_dir=str(out / "_trainer"),
        beta=settings.beta,
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        max_length=settings.max_length,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=settings.seed,
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
    )
    trainer = DPOTrainer(
        model=model,
        ref_model=None,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the log goes into the result, not to stdout
    trainer.train()
    trainer.save_model(str(out))
    tokenizer.save_pretrained(out)
    return {"log": trainer.state.log_history, "pairs": len(rows)}
