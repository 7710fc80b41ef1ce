"""Teacher optimisation with TRL's DPOTrainer (Rafailov et al. 2023), as Montessori-Instruct
does: the reference model is the teacher before the update (TRL copies it when no
``ref_model`` is given)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from goldpan.models.memory import release_memory
from goldpan.train.config import Precision


class DpoConfig(BaseModel):
    """The teacher's DPO update."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    beta: float = Field(0.1, gt=0, description="KL strength (Montessori-Instruct: 0.1).")
    learning_rate: float = Field(1e-6, gt=0, description="Learning rate (paper: 1e-6).")
    epochs: float = Field(1, gt=0, description="Passes over the pairs (paper: 1).")
    batch_size: int = Field(2, gt=0, description="Pairs per micro-batch.")
    gradient_accumulation: int = Field(1, gt=0, description="Micro-batches per step.")
    max_length: int = Field(1024, gt=1, description="Prompt + response tokens.")
    precision: Precision = Field("float32", description="float32, bfloat16 or float16.")
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory.")
    seed: int = Field(0, description="Data order.")



def dpo_update(
    teacher: str | Path,
    pairs: Sequence[dict[str, Any]],
    out: str | Path,
    settings: DpoConfig | None = None,
) -> dict[str, Any]:
    """DPO the teacher (an HF folder) on ``prompt, chosen, rejected`` pairs; saves the updated
    teacher to ``out`` and returns TRL's training log."""
    import torch
    import transformers
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    transformers.utils.logging.set_verbosity_error()
    settings = settings or DpoConfig()
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
        gradient_accumulation_steps=settings.gradient_accumulation,
        bf16=settings.precision == "bfloat16",
        fp16=settings.precision == "float16",
        gradient_checkpointing=settings.gradient_checkpointing,
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
    log = trainer.state.log_history
    del trainer, model  # the policy and TRL's reference copy: two teachers' worth of memory
    release_memory()
    return {"log": log, "pairs": len(rows)}
