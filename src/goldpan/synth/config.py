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


# The reference's recipes (cxcscmu/Montessori-Instruct configs/templates/*.yml, 8 GPUs in
# project_config.yml): 2 examples per device x accumulation 2 x 8 GPUs = 32 a step, which one
# device reaches by accumulating 16 micro-batches of 2; AdamW at 5e-6 without weight decay;
# transformers' default clipping at 1.0; bf16 (``auto`` keeps CPUs in fp32).
def _warmup_defaults() -> TrainConfig:
    # warm_up.yml: WSD with warmup_ratio 1.0, no stable or decay phase: the rate ramps up over
    # the whole warm-up and the probes step at its peak.
    return TrainConfig(
        learning_rate=5e-6, weight_decay=0.0, batch_size=2, gradient_accumulation=16,
        schedule="wsd", warmup_ratio=1.0, decay_ratio=0.0, min_lr_ratio=1.0, max_length=1024,
        max_grad_norm=1.0, precision="auto",
    )


def _final_student_defaults() -> TrainConfig:
    # sft_student.yml: one epoch, WSD 10% warm-up, 50% stable, 40% decay to 1e-4 of the peak.
    return TrainConfig(
        learning_rate=5e-6, weight_decay=0.0, batch_size=2, gradient_accumulation=16,
        schedule="wsd", warmup_ratio=0.1, decay_ratio=0.4, min_lr_ratio=1e-4, max_length=1024,
        max_grad_norm=1.0, precision="auto", epochs=1,
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
            "prompt_format": "self_instruct",
            "instruction_filters": "self_instruct",
            "response_max_new_tokens": 96,
            "warmup_examples": 8,
            "student": {"learning_rate": 2e-5, "max_length": 256, "batch_size": 4,
                        "gradient_accumulation": 1, "schedule": "constant", "warmup_ratio": 0.0},
            "final_student": {"learning_rate": 2e-5, "max_length": 256, "batch_size": 4,
                              "gradient_accumulation": 1, "schedule": "constant",
                              "warmup_ratio": 0.0, "epochs": 2},
            "reference_examples": 8,
            "probe_loss_scale": 1.0,
            "probe_dtype": "float32",
            "dpo": {"learning_rate": 5e-6, "batch_size": 2, "gradient_accumulation": 1,
                    "schedule": "constant", "warmup_ratio": 0.0, "max_length": 256},
            "final_examples": 16,
            "judge_examples": 8,
            "held_out_examples": 16,
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
    instruction_max_new_tokens: int = Field(
        1024, gt=0, description="Instruction answer length (reference: max_tokens 1024; the "
        "reference prompt asks for a reason before the instruction).",
    )
    response_temperature: float = Field(0.6, ge=0, description="Response sampling (paper: 0.6).")
    response_top_p: float = Field(
        0.9, gt=0, le=1, description="Response nucleus (reference: gen_responses top_p 0.9)."
    )
    prompt_format: Literal["reference", "self_instruct"] = Field(
        "reference", description="How the teacher is asked: the reference code's chat prompt "
        "(an instruction to write one instruction, the 8 examples as <instruction> tags, the "
        "answer's last tag read), or Self-Instruct's numbered list continued as plain text "
        "(the paper's description; what a small base-like teacher can follow).",
    )
    response_max_new_tokens: int = Field(1024, gt=0, description="Response length.")
    rouge_threshold: float = Field(0.7, gt=0, le=1, description="Self-Instruct's novelty filter.")
    novelty_against: Literal["shown", "all"] = Field(
        "shown", description="What a new instruction's ROUGE-L is checked against: the generated "
        "instructions and those shown in the round's prompts (reference: gen_instructions.py "
        "is_similar_instruction), or every seed too (goldpan's earlier choice; with 52K Alpaca "
        "seeds far stricter and slower).",
    )
    instruction_filters: Literal["reference", "self_instruct"] = Field(
        "reference", description="reference: the reference code's post_process (6 to 400 "
        "characters, str.capitalize, which lowercases the rest, <input> tags removed, the "
        "keyword list); self_instruct: Self-Instruct's (4 to 150 words, no 'Write a program'; "
        "small profile, whose prompt is Self-Instruct's list).",
    )
    repetition_penalty: float = Field(
        1.0, gt=0, description="transformers' multiplicative repetition penalty on instructions "
        "and responses (the reference code: none, presence_penalty 1; the paper's appendix: 1.5).",
    )
    warmup_examples: int = Field(
        1000, ge=0, description="W: the student's warm-up SFT before probing (paper: 1,000)."
    )
    student: TrainConfig = Field(
        default_factory=_warmup_defaults,
        description="The student's warm-up on W examples; its optimiser state and final rate "
        "are what every probe steps from (reference: warm_up.yml).",
    )
    influence_update: Literal["lookahead", "snapshot"] = Field(
        "lookahead", description="How each probe's one step is taken and undone: lookahead "
        "(the AdamW update computed from the optimiser's moments without changing them; one "
        "copy of the weights) or snapshot (a real step, then weights and both moments copied "
        "back; three copies). Same influences.",
    )
    influence_copy_on: Literal["device", "cpu"] = Field(
        "device", description="Where lookahead keeps its copy of the student's weights: on the "
        "device, or in host memory (slower restores, one weight copy less on the GPU).",
    )
    influence_devices: Literal["one", "all"] = Field(
        "all", description="Probe on every visible GPU (a copy of the warmed-up student on "
        "each, the probes split between them) or on the student's device only.",
    )
    student_dtype: Literal["float32", "bfloat16"] = Field(
        "float32", description="The dtype the students are loaded and trained in. bfloat16 "
        "with student.master_weights=false is the reference's pure bf16 (AdamW state in bf16 "
        "too); with master_weights=true, fp32 master weights and state.",
    )
    probe_max_grad_norm: float | None = Field(
        None, gt=0, description="Clipping of a probe's one step (reference: none, its probe "
        "loop calls optimizer.step() directly).",
    )
    probe_loss_scale: float = Field(
        0.125, gt=0, description="Each probe's loss is multiplied by this before its backward "
        "pass. Reference: 1/8 (collect_local_data_influence.py divides by its 8 processes, and "
        "DDP averages the 8 identical gradients: the step sees g/8); goldpan's choice: 1 (the "
        "probe's own gradient, small profile).",
    )
    probe_dtype: Literal["float32", "bfloat16"] = Field(
        "bfloat16", description="Weights and AdamW moments of the probes: bfloat16 (reference: "
        "pure bf16, where most ~5e-6 updates round away) or float32 (goldpan's choice, small "
        "profile). The warm-up runs in student_dtype either way.",
    )
    influence_estimate: Literal["exact", "first_order"] = Field(
        "exact", description="L1 measured by a forward pass over D_ref per probe (the paper), "
        "or to first order from D_ref's gradient, computed once (-g_ref . step: one dot "
        "product per probe; goldpan's option for CPU-sized runs, its agreement measured in "
        "docs/montessori.md).",
    )
    reference_examples: int = Field(256, gt=0, description="D_ref size (paper: 256).")
    dpo: DpoConfig = Field(default_factory=DpoConfig, description="The teacher's DPO update.")
    final_examples: int = Field(
        1000, gt=0, description="Examples per student in the evaluation (equal for both). "
        "The last iteration's teacher stops writing once it has this many.",
    )
    final_student: TrainConfig = Field(
        default_factory=_final_student_defaults,
        description="The SFT of the two evaluated students (reference: sft_student.yml).",
    )
    held_out_examples: int = Field(
        256, gt=0, description="Held-out examples for the students' loss (ours: D_ref's size)."
    )
    judge_examples: int = Field(
        100, gt=0, description="Held-out instructions the judge compares the students on."
    )
    seed_tasks: str | None = Field(None, description="Seed tasks JSONL (default: goldpan's).")
    seed: int = Field(0, description="Sampling and training seed.")

    @classmethod
    def small(cls, **overrides: Any) -> MontessoriConfig:
        return cls.build("small", **overrides)
