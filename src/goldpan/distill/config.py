"""The configuration of negative-data distillation: light to import, so the command line can
list it without loading torch."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from goldpan.train.config import TrainConfig
from goldpan.train.lora import LoraConfig
from goldpan.util.method_config import MethodConfig


def _student_defaults() -> TrainConfig:
    # TDG's finetune.py: lr 3e-4, micro-batch 16 x accumulation 8 = 128, 20 epochs, 200 warm-up
    # steps then transformers' linear decay, fp16, cut-off 256 tokens, train_on_inputs=True (the
    # question's tokens are learned too), HF defaults otherwise.
    return TrainConfig(
        learning_rate=3e-4,
        batch_size=16,
        gradient_accumulation=8,
        epochs=20,
        schedule="linear",
        warmup_steps=200,
        precision="float16",
        max_length=256,
        loss_on_prompt=True,
        max_grad_norm=1.0,
        weight_decay=0.0,
    )


def _nce_defaults() -> TrainConfig:
    # TDG's distill_NCE.py: lr 3e-4, micro-batch 1 on each of 8 processes (run_NCE.sh,
    # nproc_per_node 8; its accumulation is forced to 1) = 8 a step, 1,000 warm-up steps then
    # transformers' linear decay, 20 epochs, fp16, the question learned too, no length grouping.
    # 1,000 warm-up steps are about 1.4% of its run (28,117 pairs / 8 x 20 epochs = 70k steps);
    # a small run should scale the warm-up with its data (warmup_ratio), not keep 1,000 steps.
    return _student_defaults().model_copy(update={
        "batch_size": 1, "gradient_accumulation": 8, "warmup_steps": 1000,
        "group_by_length": False,
    })


Baseline = Literal["teacher", "negative", "mix", "nt", "ul", "cl", "gold", "kd",
                   "nat_zero", "nat_dpos", "cot_kd_matched"]
# The paper's comparison rows (its Table 2), run by default.
BASELINES: tuple[Baseline, ...] = ("teacher", "negative", "mix", "nt", "ul", "cl", "gold", "kd")
# Ablations that separate negative knowledge from NAT's extra capacity (issue 33), on request:
# NAT over a zeroed negative LoRA, NAT over a "negative" LoRA trained on D_pos (the paper's
# ablation), and CoT KD with as many trainable parameters as NAT.
ABLATIONS: tuple[Baseline, ...] = ("nat_zero", "nat_dpos", "cot_kd_matched")

class StudentTraining(BaseModel):
    """The adapters and the training of every distilled student."""

    model_config = ConfigDict(extra="forbid")

    lora: LoraConfig = Field(default_factory=LoraConfig, description="The LoRA adapters.")
    train: TrainConfig = Field(
        default_factory=_student_defaults,
        description="Optimiser and schedule of each phase (TDG reference: see the paper profile).",
    )
    context: Literal["fit", "fixed"] = Field(
        "fit", description="fit: each phase trains with a context that holds its longest kept "
        "pair, so no rationale loses its final answer (TDG pads to its dataset's longest pair; "
        "its cutoff_len is printed, never applied); fixed: train.max_length cuts every pair.",
    )


class DistillConfig(MethodConfig):
    """Learning from negative data (Li et al., AAAI 2024, "Turning Dust into Gold"). Defaults
    follow the paper and its reference code (TDG); the ``small`` profile runs on a CPU in
    minutes."""

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "small": {
            "tasks": ["basic_arithmetic", "chain_sum"],
            "train_per_task": 12,
            "test_per_task": 8,
            "samples": 4,
            "max_new_tokens": 96,
            "student": {
                "train": {
                    "batch_size": 4, "gradient_accumulation": 1, "epochs": 2,
                    "schedule": "constant", "warmup_steps": 0, "precision": "float32",
                    "loss_on_prompt": False,
                },
                "context": "fixed",
            },
            # As the other phases of the small profile; the warm-up scales with the data.
            "nce_train": {
                "batch_size": 4, "gradient_accumulation": 1, "epochs": 2,
                "schedule": "constant", "warmup_steps": None, "warmup_ratio": 0.0,
                "precision": "float32", "loss_on_prompt": False, "group_by_length": True,
            },
            "asc_samples": 4,
            "ranker_learning_rate": 1e-4,
            "ranker_epochs": 5,
        }
    }

    tasks: list[str] = Field(
        default_factory=lambda: ["gsm_symbolic", "basic_arithmetic", "chain_sum"],
        description="reasoning-gym tasks the problems come from.",
    )
    train_per_task: int = Field(300, gt=0, description="Training problems per task.")
    test_per_task: int = Field(100, gt=0, description="Held-out problems per task.")
    train_seed: int = Field(1, description="reasoning-gym seed of the training problems.")
    test_seed: int = Field(2, description="reasoning-gym seed of the held-out problems.")
    samples: int = Field(
        8, gt=0, description="Teacher rationales per question (TDG's data: 8)."
    )
    max_pair_characters: int | None = Field(
        1600, gt=0, description="Leave out training pairs whose question + newline + rationale "
        "has this many characters or more (TDG dataset.py: 1,600 for M_neg, NAT, CoT KD and "
        "the baselines); none: keep all.",
    )
    nce_max_pair_characters: int | None = Field(
        1200, gt=0, description="The same for NCE's and KD's data (TDG MATHCHATFILEDataset: "
        "1,200).",
    )
    init: Literal["paper", "tdg"] = Field(
        "paper", description="paper: the negative LoRA's B and NAT's value projection start at "
        "zero, so M_neg and NAT start as the base model; tdg: as TDG's code starts them "
        "(peft_NAT/tuners/lora.py: reset_parameters skips the neg-mode layers, so lora_B_neg "
        "keeps nn.Linear's random init, and NAT loads the negative stage's untrained, random "
        "lora_change1/2, Q and K): M_neg starts away from the base, NAT too, which changes beta.",
    )
    grader: Literal["lenient", "tdg"] = Field(
        "lenient", description="How the teacher's rationales split into D_pos and D_neg: "
        "goldpan's lenient grader (boxed, 'the answer is' or the last number; values compared "
        "with a tolerance) or TDG's exactly (code/dataset.py: the last \\boxed{} against the "
        "gold solution's, MATH's is_equiv), which reproduces the paper's split of the released "
        "rationales. Evaluation and NAT's self-augmentation grade leniently either way.",
    )
    temperature: float = Field(0.5, ge=0, description="Teacher sampling (TDG's data: 0.5).")
    max_new_tokens: int = Field(512, gt=0, description="Rationale length.")
    student: StudentTraining = Field(
        default_factory=StudentTraining, description="Adapters and training of every student."
    )
    baselines: list[Baseline] = Field(
        default_factory=lambda: list(BASELINES),
        description="The paper's comparison rows besides CoT KD, NAT, NCE and ASC: the teacher's "
        "own accuracy, the negative model M_neg (and the overlap of problems it and CoT KD "
        "solve), MIX (D_pos and D_neg as one set), NT and UL (lambda 0.05), CL (contrastive; "
        "goldpan's objective, see cl_*), fine-tuning on gold solutions, KD from NAT without "
        "calibration. Ablations on request: nat_zero (NAT over a zeroed negative LoRA), "
        "nat_dpos (over one trained on D_pos), cot_kd_matched (CoT KD with NAT's trainable "
        "parameter count).",
    )
    ul_level: Literal["token", "sequence"] = Field(
        "token", description="UL's unlikelihood term: at each token of a wrong rationale "
        "(-log(1 - p(y_t)), Welleck et al.'s token level) or once per wrong rationale "
        "(-log(1 - p(y)), p(y) its length-normalised probability; the paper applies UL to "
        "negative rationales as sequences).",
    )
    cl_weight: float = Field(
        1.0, ge=0, description="CL: weight of the contrastive term beside the cross-entropy "
        "(ours: the paper does not give CL's objective).",
    )
    cl_temperature: float = Field(
        1.0, gt=0, description="CL: softmax temperature over mean token log-likelihoods (ours).",
    )
    nce_train: TrainConfig = Field(
        default_factory=_nce_defaults,
        description="NCE's and KD's optimiser and schedule, their own (TDG distill_NCE.py: 8 a "
        "step, 1,000 warm-up steps, 20 epochs; NAT's are 128 a step and 200 warm-up steps).",
    )
    nce_self_augment: bool = Field(
        True, description="NCE's self-augmentation: NAT's correct rationales for the training "
        "questions join D_pos for NCE (the paper's self-augmentation).",
    )
    nce_reduction: Literal["sample", "token"] = Field(
        "sample", description="How NCE's L_KD is averaged: per sample over its tokens, then over "
        "the batch (the paper's formula, and TDG's in effect: one sample per GPU, DDP averages "
        "them), or over all the batch's tokens (an option of goldpan's).",
    )
    asc_samples: int = Field(
        8, gt=0, description="k: NAT samples per question, voted on by ASC (and, on the training "
        "questions, the self-augmentation and ranker data).",
    )
    asc_weighting: Literal["1+2s", "1+s", "s"] = Field(
        "s", description="The vote weighting ASC's comparison is decided on, fixed before a "
        "run (the paper weights each vote by the ranker's score s; TDG's ASC.py prints four "
        "weightings: 1, 1 + 2s, 1 + s and s). The others are reported as exploratory.",
    )
    asc_temperature: float = Field(0.7, ge=0, description="ASC sampling temperature (ours).")
    ranker_encoder: str = Field("all-minilm-l6-v2", description="The ranker's encoder.")
    ranker_learning_rate: float = Field(2e-5, gt=0, description="Ranker AdamW (TDG: 2e-5).")
    ranker_epochs: int = Field(3, gt=0, description="Ranker epochs (ours).")
    ranker_pairs_per_question: int = Field(
        32, gt=0, description="Most (correct, wrong) pairs per training question (ours; the "
        "teacher's 8 samples and the student's k can make 100+).",
    )
    train_file: str | None = Field(
        None, description="JSONL problems (question, answer) instead of reasoning-gym."
    )
    test_file: str | None = Field(None, description="JSONL held-out problems.")
    extra_test_files: dict[str, str] = Field(
        default_factory=dict, description="Out-of-distribution test sets, name -> problem file "
        "(e.g. {gsm8k: test.jsonl, svamp: svamp.jsonl}), each one more column of accuracies.",
    )
    rationales_file: str | None = Field(
        None, description="Teacher rationales already generated (id, question, answer, "
        "rationale per line): graded into D_pos/D_neg instead of asking a teacher.",
    )
    seed: int = Field(0, description="Sampling and training seed.")

    @classmethod
    def small(cls, **overrides: Any) -> DistillConfig:
        return cls.build("small", **overrides)
