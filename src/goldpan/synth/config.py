"""The configurations of Self-Instruct and Montessori-Instruct: light to import, so the command
line can list them without loading torch."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from goldpan.train.config import TrainConfig
from goldpan.train.dpo import DpoConfig
from goldpan.util.method_config import MethodConfig


class SelfInstructConfig(MethodConfig):
    """Self-Instruct (Wang et al. 2023). Defaults are the original's (bootstrap: temperature
    0.7, top_p 0.5, presence penalty 2, up to 1,024 new tokens; instances: greedy); the
    ``small`` profile shortens generations for a local teacher on a CPU."""

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "small": {"max_new_tokens": 256, "instance_max_new_tokens": 160, "requests_per_round": 8},
    }

    n: int = Field(100, gt=0, description="Machine instructions to collect.")
    seed_tasks: str | None = Field(
        None, description="Seed tasks, JSONL in the original format (default: goldpan's 175)."
    )
    prompt_instructions: int = Field(8, gt=0, description="Instructions per prompt (paper: 8).")
    machine_in_prompt: int = Field(
        2, ge=0, description="Of them, machine-generated once there are some (paper: 2)."
    )
    requests_per_round: int = Field(
        5, gt=0, description="Prompts per round before the pool is refreshed (original: 5)."
    )
    max_rounds: int = Field(
        200, gt=0, description="Stop even if the teacher stops producing novel instructions."
    )
    numbering: Literal["task", "number"] = Field(
        "task", description='"Task 9:" (the paper) or "9." (the original code).'
    )
    temperature: float = Field(0.7, ge=0, description="Bootstrap sampling (original: 0.7).")
    top_p: float = Field(0.5, gt=0, le=1, description="Bootstrap nucleus (original: 0.5).")
    presence_penalty: float = Field(2.0, description="Bootstrap presence penalty (original: 2).")
    max_new_tokens: int = Field(1024, gt=0, description="Bootstrap length (original: 1,024).")
    rouge_threshold: float = Field(
        0.7, gt=0, le=1, description="Reject an instruction this ROUGE-L-similar to the pool."
    )
    min_words: int = Field(4, ge=0, description="Shortest instruction kept (original: 4 words).")
    max_words: int = Field(150, gt=0, description="Longest instruction kept (original: 150).")
    instances_per_task: int = Field(5, gt=0, description="Instances kept per task.")
    instance_max_new_tokens: int = Field(300, gt=0, description="Instance generation length.")
    demonstrations: int = Field(4, ge=0, description="Seed tasks shown in each instance prompt.")
    chat: bool = Field(
        False, description="Wrap prompts in the chat template (the original continued raw text)."
    )
    seed: int = Field(0, description="Sampling seed.")

    @classmethod
    def small(cls, **overrides: Any) -> SelfInstructConfig:
        return cls.build("small", **overrides)


def _student_defaults() -> TrainConfig:
    # The student's SFT: AdamW at the paper's 5e-6 without weight decay (the reference's).
    return TrainConfig(
        learning_rate=5e-6, weight_decay=0.0, batch_size=4, max_length=1024, max_grad_norm=None
    )


class MontessoriConfig(MethodConfig):
    """Montessori-Instruct (Li, Yu and Xiong, ICLR 2025). Defaults are the paper's; the
    ``small`` profile runs on a CPU in minutes with the embedded 135M models."""

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "small": {
            "iterations": 1,
            "prompts": 10,
            "prompts_per_round": 5,
            "instruction_max_new_tokens": 40,
            "response_max_new_tokens": 96,
            "warmup_examples": 8,
            "student": {"learning_rate": 2e-5, "max_length": 256},
            "reference_examples": 8,
            "dpo": {"learning_rate": 5e-6, "batch_size": 2, "max_length": 256},
            "final_examples": 16,
            "final_epochs": 2,
            "judge_examples": 8,
        }
    }

    iterations: int = Field(2, ge=0, description="Teacher updates (paper: 2).")
    prompts: int = Field(
        1500, gt=0, description="Bootstrap prompts per iteration, each sampled samples_per_prompt "
        "times.",
    )
    samples_per_prompt: int = Field(4, gt=0, description="Outputs per prompt (paper: 4).")
    prompts_per_round: int = Field(
        16, gt=0, description="Prompts generated before the pool of generated instructions is "
        "refreshed (reference: gen_instruction.batch_size 16).",
    )
    prompt_instructions: int = Field(8, gt=0, description="Instructions per prompt (paper: 8).")
    machine_in_prompt: int = Field(2, ge=0, description="Of them, generated ones (paper: 2).")
    temperature: float = Field(1.0, ge=0, description="Instruction sampling (paper: 1.0).")
    presence_penalty: float = Field(
        1.0, description="Instruction and response presence penalty (reference: 1)."
    )
    top_p: float = Field(0.9, gt=0, le=1, description="Instruction nucleus (paper: 0.9).")
    instruction_max_new_tokens: int = Field(128, gt=0, description="Instruction length.")
    response_temperature: float = Field(0.6, ge=0, description="Response sampling (paper: 0.6).")
    response_max_new_tokens: int = Field(1024, gt=0, description="Response length.")
    rouge_threshold: float = Field(0.7, gt=0, le=1, description="Self-Instruct's novelty filter.")
    warmup_examples: int = Field(
        1000, ge=0, description="W: the student's warm-up SFT before probing (paper: 1,000)."
    )
    student: TrainConfig = Field(
        default_factory=_student_defaults,
        description="The student's SFT (paper: lr 5e-6, one step per probe).",
    )
    reference_examples: int = Field(256, gt=0, description="D_ref size (paper: 256).")
    dpo: DpoConfig = Field(default_factory=DpoConfig, description="The teacher's DPO update.")
    final_examples: int = Field(
        1000, gt=0, description="Examples per student in the evaluation (equal for both)."
    )
    final_epochs: float = Field(1, gt=0, description="Epochs of the evaluated students.")
    judge_examples: int = Field(100, gt=0, description="Instructions the judge compares.")
    seed_tasks: str | None = Field(None, description="Seed tasks JSONL (default: goldpan's).")
    seed: int = Field(0, description="Sampling and training seed.")

    @classmethod
    def small(cls, **overrides: Any) -> MontessoriConfig:
        return cls.build("small", **overrides)
