"""``goldpan distill``: the whole negative-data distillation experiment in one command.

Problems (reasoning-gym, separate train and test seeds) -> teacher rationales -> D_pos and
D_neg -> CoT KD, negative LoRA, NAT, NCE -> the ASC ranker trained on the NAT student's own
samples on training questions -> accuracy on held-out problems for the base student, CoT KD,
NAT and NCE (greedy), and plain self-consistency against ASC's four vote weightings over k
NAT samples: one table.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from goldpan.data.json_lines import json_object, read_json_lines, write_json_lines
from goldpan.distill.answers import equivalent, extract_answer, is_correct
from goldpan.distill.asc import WEIGHTS, credit, sequence_weight, vote
from goldpan.distill.baselines import contrastive_loss, negative_data_loss
from goldpan.distill.config import DistillConfig, StudentTraining
from goldpan.distill.imported import grade_rationales, read_rationales
from goldpan.distill.nat import nat_state
from goldpan.distill.rationales import (
    Collected,
    collect_rationales,
    load_problems,
    read_collected,
    reasoning_gym_problems,
    write_collected,
)
from goldpan.distill.records import Problem, Rationale
from goldpan.distill.results import (
    BetaSummary,
    DistillResults,
    RationaleCounts,
)
from goldpan.distill.simulated import SPEC as SIMULATED
from goldpan.distill.simulated import SimulatedTeacher, parse_spec
from goldpan.distill.train import (
    load_nat,
    longest_pair,
    lora_weights,
    train_lora,
    train_nat,
    train_nce,
)
from goldpan.errors import GoldpanError
from goldpan.llm import LLM, GenerationParams, make_llm
from goldpan.llm.cache import GenerationCache
from goldpan.llm.transformers_backend import TransformersBackend
from goldpan.train import TrainConfig, phase_steps
from goldpan.train.method_run import MethodRun, Phase, Progress, file_stamp, run_key
from goldpan.util.atomic import atomic_write_text


def _answers(llm: LLM, problems: list[Problem], params: GenerationParams) -> list[list[str]]:
    prompts = [problem.prompt for problem in problems]
    return [[c.text for c in row] for row in llm.generate(prompts, params)]


def _in_memory(name: str, model: Any, tokenizer: Any) -> LLM:
    tokenizer.padding_side = "left"
    return LLM(TransformersBackend.from_objects(name, model, tokenizer))


def make_teacher(
    spec: str, problems: list[Problem], config: DistillConfig, out: Path
) -> LLM:
    """The teacher: any ``llm`` spec, or ``simulated[:RATE]`` (worked solutions with slips at a
    known rate, for experiments on machines without a strong teacher)."""
    cache = out / "llm-cache.sqlite"
    if spec == SIMULATED or spec.startswith(SIMULATED + ":"):
        rate, style = parse_spec(spec)
        teacher = SimulatedTeacher(problems, rate, config.seed, style)
        return LLM(teacher, GenerationCache(cache))
    return make_llm(spec, cache)


def solved(llm: LLM, problems: list[Problem], max_new_tokens: int) -> list[bool]:
    """Whether the greedy answer to each problem is correct."""
    params = GenerationParams(temperature=0.0, max_new_tokens=max_new_tokens)
    rows = _answers(llm, problems, params)
    return [is_correct(row[0], p.answer) for row, p in zip(rows, problems, strict=True)]


def greedy_accuracy(llm: LLM, problems: list[Problem], max_new_tokens: int) -> float:
    return _share(solved(llm, problems, max_new_tokens))


class Evaluator:
    """Greedy accuracy of each method on the test problems, per subject with the macro average
    (the paper's Table 2 layout), and on every out-of-distribution test set."""

    def __init__(
        self,
        results: DistillResults,
        test: list[Problem],
        extra: dict[str, list[Problem]],
        max_new_tokens: int,
    ) -> None:
        self.results, self.test, self.extra = results, test, extra
        self.max_new_tokens = max_new_tokens

    def __call__(self, name: str, llm: LLM) -> list[bool]:
        flags = solved(llm, self.test, self.max_new_tokens)
        self.results.accuracy[name] = _share(flags)
        self.results.solved[name] = flags
        subjects: dict[str, list[bool]] = {}
        for problem, flag in zip(self.test, flags, strict=True):
            if problem.subject:
                subjects.setdefault(problem.subject, []).append(flag)
        if subjects:
            by_subject = {k: _share(v) for k, v in sorted(subjects.items())}
            self.results.accuracy_by_subject[name] = by_subject
            self.results.macro_accuracy[name] = sum(by_subject.values()) / len(by_subject)
        for set_name, problems in self.extra.items():
            self.results.extra_accuracy.setdefault(set_name, {})[name] = greedy_accuracy(
                llm, problems, self.max_new_tokens
            )
        return flags


def _share(flags: list[bool]) -> float:
    return sum(flags) / max(1, len(flags))


def overlap(first: list[bool], second: list[bool]) -> float:
    """Intersection over union of the problems two models solve (1.0 when neither solves any)."""
    both = sum(a and b for a, b in zip(first, second, strict=True))
    either = sum(a or b for a, b in zip(first, second, strict=True))
    return both / either if either else 1.0


# The phases every run has, in order (each baseline that trains a student adds one before asc).
PHASES = ("data", "base", "cot_kd", "negative", "nat", "nat_samples", "nce", "asc")
TRAINED_BASELINES = ("mix", "nt", "ul", "cl", "gold", "kd", "nat_zero", "nat_dpos",
                     "cot_kd_matched")


@dataclass
class DistillRun:
    """What the phases of one distillation run hand to each other."""

    config: DistillConfig
    out: Path
    student: str
    teacher: str | None
    step: Progress
    started: float
    test: list[Problem]
    results: DistillResults | None = None
    train: list[Problem] = field(default_factory=list)
    collected: Collected | None = None
    teacher_llm: LLM | None = None
    evaluator: Evaluator | None = None
    negative: Any = None  # the negative LoRA's weights, as NAT's integration unit takes them
    nat: Any = None
    nat_layers: Any = None
    nat_tokenizer: Any = None
    own: list[list[str]] = field(default_factory=list)  # NAT's samples on the training questions
    nce_rows: list[Rationale] = field(default_factory=list)

    @property
    def data(self) -> Collected:
        assert self.collected is not None, "the data phase runs or loads first"
        return self.collected

    @property
    def evaluate(self) -> Evaluator:
        if self.evaluator is None:
            assert self.results is not None, "the data phase runs or loads first"
            extra = {name: load_problems(path)
                     for name, path in self.config.extra_test_files.items()}
            self.evaluator = Evaluator(self.results, self.test, extra,
                                       self.config.max_new_tokens)
        return self.evaluator

    def teacher_model(self) -> LLM:
        if self.teacher_llm is None:
            self.teacher_llm = make_teacher(self.teacher or self.student,
                                            self.train + self.test, self.config, self.out)
        return self.teacher_llm

    def nat_llm(self) -> LLM:
        return _in_memory("nat", self.nat, self.nat_tokenizer)

    def save(self) -> None:
        assert self.results is not None
        _finish(self.results, self.out, self.started)


def distillation_phases(config: DistillConfig) -> list[Phase[DistillRun]]:
    """The method, top to bottom."""
    baselines = [Phase(f"baseline {name}", _baseline_phase(name))
                 for name in TRAINED_BASELINES if name in config.baselines]
    return [
        Phase("data", _collect_data, _load_data),
        Phase("base", _evaluate_base),
        Phase("cot_kd", _train_cot_kd),
        Phase("negative", _train_negative, _load_negative),
        Phase("nat", _train_nat, _load_nat),
        Phase("nat_samples", _sample_nat, _load_nat_samples),
        Phase("nce", _train_nce),
        *baselines,
        Phase("asc", _train_asc),
    ]


def run_distillation(
    config: DistillConfig,
    out: str | Path,
    student: str = "smollm2-135m-instruct",
    teacher: str | None = None,
    report: Progress | None = None,
    until: str | None = None,
) -> DistillResults:
    """The whole method, or its phases up to ``until``. With ``config.rationales_file`` the
    teacher's rationales come from that file (graded here) and no teacher is asked; with
    ``until="data"`` no student model is loaded either. A rerun with the same settings skips
    the phases already finished (``phases.json``)."""
    out = Path(out)
    phases = distillation_phases(config)
    method = MethodRun(out, distill_key(config, student, teacher), phases, save=DistillRun.save)
    method.check_until(until)
    state = DistillRun(
        config, out, student, teacher, _reporter(report), time.perf_counter(),
        _problems(config, config.test_file, config.test_per_task, config.test_seed),
    )
    method.run(state, until)
    if state.results is None:  # every phase was finished: nothing needed loading
        _load_results(state)
    assert state.results is not None
    return _finish(state.results, out, state.started)


def distill_key(config: DistillConfig, student: str, teacher: str | None) -> str:
    """What the finished phases depend on: settings, models and the input files."""
    settings = config.model_dump(mode="json")
    files = [file_stamp(settings.get(k)) for k in ("train_file", "test_file", "rationales_file")]
    files += [file_stamp(p) for p in sorted(settings.get("extra_test_files", {}).values())]
    return run_key(config=settings, student=student, teacher=teacher, files=files)


def _collect_data(run: DistillRun) -> None:
    config, usage = run.config, {}
    if config.rationales_file is not None:
        run.train, run.collected = grade_rationales(read_rationales(config.rationales_file),
                                                    config.grader)
    else:
        run.train = _problems(config, config.train_file, config.train_per_task,
                              config.train_seed)
        teacher = run.teacher_model()
        run.collected = collect_rationales(teacher, run.train, config.samples,
                                           config.temperature, config.max_new_tokens,
                                           config.seed, config.grader)
        usage = teacher.usage.to_json()
    counts = write_collected(run.data, run.out / "data", run.train)
    run.results = DistillResults(data=RationaleCounts(**counts), teacher_usage=usage,
                                 config=config.model_dump(mode="json"))
    backend = getattr(run.teacher_llm, "backend", None)
    if isinstance(backend, SimulatedTeacher):
        run.results.teacher_errors = backend.error_kinds(run.data.negative)


def _load_results(run: DistillRun) -> None:
    run.results = DistillResults.model_validate_json((run.out / "results.json").read_text())


def _load_data(run: DistillRun) -> None:
    run.train, run.collected = read_collected(run.out / "data")
    _load_results(run)


def _evaluate_base(run: DistillRun) -> None:
    assert run.results is not None
    if not run.data.positive or not run.data.negative:
        raise GoldpanError(
            f"distill: the teacher gave {run.results.data.positive} correct and "
            f"{run.results.data.negative} wrong rationales; both are needed (use more "
            "problems or samples, or another teacher)"
        )
    if run.config.rationales_file is None and "teacher" in run.config.baselines:
        run.evaluate("teacher", run.teacher_model())
    run.evaluate("base", make_llm(run.student))
    run.step("evaluate base", 1, 1)


def _within(row: Rationale, limit: int | None) -> bool:
    """TDG's length rule (dataset.py): question, newline and rationale under ``limit``
    characters; no limit keeps every pair."""
    return limit is None or len(row.question) + 1 + len(row.rationale) < limit


def _training(run: DistillRun, phase: str, rows: Sequence[Rationale],
              limit: int | None, train: TrainConfig | None = None,
              ) -> tuple[list[Rationale], StudentTraining]:
    """A phase's pairs after TDG's character filter (question, newline and rationale under
    ``limit`` characters, dataset.py), and its settings: with ``context=fit`` a context that
    holds its longest kept pair, so that no rationale loses its final answer. Both counted."""
    from transformers import AutoTokenizer

    from goldpan.models.load import resolve

    assert run.results is not None
    kept = [r for r in rows if _within(r, limit)]
    run.results.dropped_for_length[phase] = len(rows) - len(kept)
    settings = run.config.student
    if train is not None:  # a phase with a schedule of its own (NCE's)
        settings = settings.model_copy(update={"train": train})
    if settings.context == "fit" and kept:
        tokenizer = AutoTokenizer.from_pretrained(resolve(run.student))
        longest = longest_pair(tokenizer, kept)
        fitted = settings.train.model_copy(update={"max_length": longest})
        settings = settings.model_copy(update={"train": fitted})
    run.results.context[phase] = settings.train.max_length
    return kept, settings


def _train_cot_kd(run: DistillRun) -> None:
    rows, settings = _training(run, "cot_kd", run.data.positive, run.config.max_pair_characters)
    kd, tokenizer = train_lora(run.student, rows, settings, phase_steps(run.step, "train CoT KD"))
    kd.save_pretrained(run.out / "adapters" / "cot_kd")
    run.evaluate("cot_kd", _in_memory("cot_kd", kd, tokenizer))


def _negative_path(run: DistillRun) -> Path:
    return run.out / "adapters" / "negative_lora.pt"


def _train_negative(run: DistillRun) -> None:
    rows, training = _training(run, "negative", run.data.negative,
                               run.config.max_pair_characters)
    model, tokenizer = train_lora(run.student, rows, training,
                                  phase_steps(run.step, "train negative"),
                                  random_b=run.config.init == "tdg")
    model.save_pretrained(run.out / "adapters" / "negative")
    run.negative = lora_weights(model, training.lora.targets)
    torch.save(run.negative, _negative_path(run))
    if "negative" in run.config.baselines:  # the paper's Table 1: what M_neg solves, with whom
        assert run.results is not None
        run.evaluate("negative", _in_memory("negative", model, tokenizer))
        run.results.solved_overlap = overlap(run.results.solved["cot_kd"],
                                             run.results.solved["negative"])


def _load_negative(run: DistillRun) -> None:
    run.negative = torch.load(_negative_path(run), weights_only=True)


def _nat_path(run: DistillRun) -> Path:
    return _mkdir(run.out / "adapters" / "nat") / "nat.pt"


def _train_nat(run: DistillRun) -> None:
    rows, settings = _training(run, "nat", run.data.positive, run.config.max_pair_characters)
    run.nat, run.nat_layers, run.nat_tokenizer = train_nat(
        run.student, rows, run.negative, settings, phase_steps(run.step, "train NAT"),
        zero_c2=run.config.init != "tdg")
    torch.save(nat_state(run.nat), _nat_path(run))
    run.evaluate("nat", run.nat_llm())


def _load_nat(run: DistillRun) -> None:
    run.nat, run.nat_layers, run.nat_tokenizer = load_nat(
        run.student, run.negative, _nat_path(run), run.config.student)


def _sample_nat(run: DistillRun) -> None:
    """NAT's own samples on the training questions serve twice: the correct ones augment D_pos
    for NCE (the paper's self-augmentation), and all of them train the ASC ranker."""
    run.own = _answers(run.nat_llm(), run.train, _sampling(run.config))
    write_json_lines(run.out / "data" / "nat_samples.jsonl",
                     [{"id": p.id, "samples": s} for p, s in zip(run.train, run.own,
                                                                strict=True)])
    run.nce_rows = list(run.data.positive)
    assert run.results is not None
    run.results.nat_correct_samples = correct_samples(run.train, run.own)
    if run.config.nce_self_augment:
        augmented = self_augmentation(run.train, run.own, run.data.positive)
        write_json_lines(run.out / "data" / "nat_augmented.jsonl",
                         [row.to_json() for row in augmented])
        run.results.nce_augmented = len(augmented)
        run.nce_rows += augmented


def _load_nat_samples(run: DistillRun) -> None:
    rows = read_json_lines(run.out / "data" / "nat_samples.jsonl", "NAT samples", json_object,
                           "a JSON object")
    run.own = [row["samples"] for row in rows]
    run.nce_rows = list(run.data.positive)
    if run.config.nce_self_augment:
        run.nce_rows += read_json_lines(
            run.out / "data" / "nat_augmented.jsonl", "NAT's correct samples",
            lambda row, line: Rationale.from_json(json_object(row, line)), "a rationale")


def _train_nce(run: DistillRun) -> None:
    rows, settings = _training(run, "nce", run.nce_rows, run.config.nce_max_pair_characters,
                               run.config.nce_train)
    betas: list[float] = []
    nce, tokenizer = train_nce(run.student, rows, run.nat, run.nat_layers, settings,
                               phase_steps(run.step, "train NCE"),
                               reduction=run.config.nce_reduction, betas=betas)
    assert run.results is not None
    run.results.nce_beta = BetaSummary.of(betas)
    nce.save_pretrained(run.out / "adapters" / "nce")
    run.evaluate("nce", _in_memory("nce", nce, tokenizer))


def _train_asc(run: DistillRun) -> None:
    assert run.results is not None
    run.results.self_consistency_credit, run.results.ranker_pairs = _asc(
        run.nat_llm(), run.train, run.own, run.test, run.data, run.config, run.out, run.step
    )
    run.results.self_consistency = {
        name: sum(credits) / max(1, len(credits))
        for name, credits in run.results.self_consistency_credit.items()
    }


def _finish(results: DistillResults, out: Path, started: float) -> DistillResults:
    results.seconds = round(time.perf_counter() - started, 1)
    atomic_write_text(out / "results.json", results.model_dump_json(indent=2))
    return results


CL_SESSION = 8  # rationales per question in TDG's CL data


def _session(gold: Rationale | None, rationales: list[Rationale], right: set[int],
             limit: int | None) -> list[tuple[Rationale, int]]:
    """One question's CL session as TDG's ``MATHCHATCLDataset`` builds it: the gold solution
    (score 1), then the teacher's rationales in sample order, right ones scored 1 and wrong ones
    0 except the first wrong one, which is skipped; pairs of ``limit`` characters or more left
    out; 8 kept (one dropped when 9), fewer padded with the gold solution or, without one, the
    first right rationale; a session with nothing right to pad with is dropped."""
    session: list[tuple[Rationale, int]] = []
    pad = None
    if gold is not None and _within(gold, limit):
        session.append((gold, 1))
        pad = (gold, 1)
    skipped_first_wrong = False
    for row in rationales:
        if id(row) in right:
            if _within(row, limit):
                session.append((row, 1))
                pad = pad or (row, 1)
        elif not skipped_first_wrong:
            skipped_first_wrong = True
        elif _within(row, limit):
            session.append((row, 0))
    if len(session) > CL_SESSION:
        session = session[:-1]
    elif len(session) < CL_SESSION:
        if pad is None:
            return []
        session += [pad] * (CL_SESSION - len(session))
    return session


def cl_rows(train: list[Problem], collected: Collected, limit: int | None) -> list[Rationale]:
    """CL's training rows from TDG's sessions (dataset.py): every rationale scored 1 in its
    question's session (padding included, as TDG trains it), contrasted with the session's
    rationales scored 0 under goldpan's objective (baselines.contrastive_loss)."""
    by_question: dict[str, list[Rationale]] = {}
    for row in [*collected.positive, *collected.negative]:
        by_question.setdefault(row.id, []).append(row)
    right = {id(row) for row in collected.positive}
    rows = []
    for problem in train:
        gold = (Rationale(problem.id, problem.question, problem.answer, problem.solution,
                          source="gold") if problem.solution else None)
        ordered = sorted(by_question.get(problem.id, []), key=lambda r: str(r.sample).zfill(8))
        session = _session(gold, ordered, right, limit)
        wrong = [row.rationale for row, score in session if score == 0]
        rows += [row.contrasted_with(wrong) for row, score in session if score == 1]
    return rows


def _baseline_rows(run: DistillRun, name: str) -> tuple[list[Rationale], Any]:
    """A comparison row's training data and loss: MIX, NT, UL, CL and fine-tuning on the gold
    solutions train a LoRA student of their own."""
    data, config = run.data, run.config
    negatives = [row.marked_negative() for row in data.negative]
    gold = [Rationale(p.id, p.question, p.answer, p.solution, source="gold")
            for p in run.train if p.solution]
    if name == "mix":
        return list(data.positive) + list(data.negative), None
    if name == "nt":  # TDG's MATHCHATNTDataset: each question's gold solution, scored 1, too
        return gold + list(data.positive) + negatives, negative_data_loss(name)
    if name == "ul":
        return list(data.positive) + negatives, negative_data_loss(name, level=config.ul_level)
    if name == "cl":
        return (cl_rows(run.train, data, config.max_pair_characters),
                contrastive_loss(config.cl_weight, config.cl_temperature))
    return gold, None


def _train_kd(run: DistillRun) -> tuple[Any, Any]:
    """KD from NAT without the calibration (beta = 0): the row NCE is compared against."""
    rows, settings = _training(run, "kd", run.nce_rows, run.config.nce_max_pair_characters,
                               run.config.nce_train)
    return train_nce(run.student, rows, run.nat, run.nat_layers, settings,
                     phase_steps(run.step, "train KD"), calibrate=False,
                     reduction=run.config.nce_reduction)


def _train_nat_over(run: DistillRun, name: str,
                    negative: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[Any, Any]:
    """NAT as the method trains it, over another negative LoRA."""
    rows, settings = _training(run, name, run.data.positive, run.config.max_pair_characters)
    model, _layers, tokenizer = train_nat(run.student, rows, negative, settings,
                                          phase_steps(run.step, f"train {name}"),
                                          zero_c2=run.config.init != "tdg")
    return model, tokenizer


def _train_nat_zero(run: DistillRun) -> tuple[Any, Any]:
    """NAT without negative knowledge: its negative LoRA zeroed, so the negative branch is the
    base model; the architecture and the trainable parameters are NAT's."""
    zero = [(torch.zeros_like(a), torch.zeros_like(b)) for a, b in run.negative]
    return _train_nat_over(run, "nat_zero", zero)


def _train_nat_dpos(run: DistillRun) -> tuple[Any, Any]:
    """The paper's ablation: NAT over a "negative" LoRA trained on D_pos instead of D_neg."""
    rows, training = _training(run, "nat_dpos negative", run.data.positive,
                               run.config.max_pair_characters)
    model, _ = train_lora(run.student, rows, training,
                          phase_steps(run.step, "train nat_dpos negative"),
                          random_b=run.config.init == "tdg")
    return _train_nat_over(run, "nat_dpos", lora_weights(model, training.lora.targets))


def trainable(model: Any) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def lora_parameters(layers: Sequence[Any], rank: int) -> int:
    """What a rank-r LoRA on these NAT layers' base linears trains: r (d_in + d_out) each."""
    return rank * sum(layer.base.in_features + layer.base.out_features for layer in layers)


def matched_rank(nat_parameters: int, layers: Sequence[Any]) -> int:
    """The LoRA rank on NAT's adapted layers whose trainable parameters come nearest NAT's."""
    return max(1, round(nat_parameters / lora_parameters(layers, 1)))


def _train_cot_kd_matched(run: DistillRun) -> tuple[Any, Any]:
    """CoT KD with as many trainable parameters as NAT: a LoRA of higher rank on the same layers,
    alpha scaled with it so the update's scale alpha / r stays the method's."""
    assert run.results is not None
    lora = run.config.student.lora
    nat_parameters = trainable(run.nat)
    rank = matched_rank(nat_parameters, run.nat_layers)
    wide = lora.model_copy(update={"r": rank, "alpha": lora.alpha * rank / lora.r})
    rows, settings = _training(run, "cot_kd_matched", run.data.positive,
                               run.config.max_pair_characters)
    settings = settings.model_copy(update={"lora": wide})
    model, tokenizer = train_lora(run.student, rows, settings,
                                  phase_steps(run.step, "train cot_kd_matched"))
    run.results.trainable_parameters.update(
        nat=nat_parameters, cot_kd=lora_parameters(run.nat_layers, lora.r),
        cot_kd_matched=trainable(model))
    return model, tokenizer


_SPECIAL_BASELINES: dict[str, Callable[[DistillRun], tuple[Any, Any]]] = {
    "kd": _train_kd, "nat_zero": _train_nat_zero, "nat_dpos": _train_nat_dpos,
    "cot_kd_matched": _train_cot_kd_matched,
}


def _baseline_phase(name: str) -> Callable[[DistillRun], None]:
    def train_baseline(run: DistillRun) -> None:
        if name in _SPECIAL_BASELINES:
            model, tokenizer = _SPECIAL_BASELINES[name](run)
        else:
            every, loss_fn = _baseline_rows(run, name)
            rows, settings = _training(run, name, every, run.config.max_pair_characters)
            if not rows:
                return
            model, tokenizer = train_lora(run.student, rows, settings,
                                          phase_steps(run.step, f"train {name}"), loss_fn)
        run.evaluate(name, _in_memory(name, model, tokenizer))

    return train_baseline


def _sampling(config: DistillConfig) -> GenerationParams:
    """How NAT samples rationales (for self-augmentation, the ranker and ASC's votes)."""
    return GenerationParams(
        n=config.asc_samples,
        temperature=config.asc_temperature,
        max_new_tokens=config.max_new_tokens,
        seed=config.seed,
    )


def correct_samples(train: list[Problem], samples: list[list[str]]) -> int:
    """NAT's correct samples on the training questions, repeats included: whether
    self-augmentation has material at all, before it keeps the new, distinct ones."""
    return sum(is_correct(sample, problem.answer)
               for problem, rationales in zip(train, samples, strict=True)
               for sample in rationales)


def self_augmentation(
    train: list[Problem], samples: list[list[str]], positive: list[Rationale]
) -> list[Rationale]:
    """NAT's correct rationales for the training questions, as D_pos rows (the ones already in
    D_pos not again)."""
    known = {(row.id, row.rationale) for row in positive}
    rows = []
    for problem, rationales in zip(train, samples, strict=True):
        for index, rationale in enumerate(dict.fromkeys(r.strip() for r in rationales)):
            if (problem.id, rationale) in known or not is_correct(rationale, problem.answer):
                continue
            rows.append(Rationale(problem.id, problem.question, problem.answer, rationale,
                                  f"nat-{index}", extract_answer(rationale), source="nat"))
    return rows


def _asc(
    nat_llm: LLM,
    train: list[Problem],
    own: list[list[str]],
    test: list[Problem],
    collected: Collected,
    config: DistillConfig,
    out: Path,
    step: Progress,
) -> tuple[dict[str, list[float]], int]:
    """Each test problem's credit per vote weighting, and the number of pairs the ranker
    trained on."""
    from transformers import AutoModel, AutoTokenizer

    from goldpan.distill.ranker import (
        Ranker,
        ranker_pairs,
        score_rationales,
        train_ranker_step,
    )
    from goldpan.models.embeddings import resolve_embedder

    params = _sampling(config)
    triples = ranker_pairs(
        train, collected.positive, collected.negative, own, is_correct,
        config.ranker_pairs_per_question, config.seed,
    )
    folder = resolve_embedder(config.ranker_encoder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoder = AutoModel.from_pretrained(folder)
    ranker = Ranker(encoder, encoder.config.hidden_size)
    optimizer = torch.optim.AdamW(ranker.parameters(), lr=config.ranker_learning_rate)
    for epoch in range(config.ranker_epochs if triples else 0):
        order = list(triples)
        random.Random(config.seed + epoch).shuffle(order)  # the pairs reshuffled every epoch
        for start in range(0, len(order), 8):
            batch = order[start : start + 8]
            train_ranker_step(ranker, optimizer, tokenizer, *map(list, zip(*batch, strict=True)))
            step("train ranker", 1, 0)
    torch.save(ranker.state_dict(), _mkdir(out / "ranker") / "ranker.pt")
    prompts = [problem.prompt for problem in test]
    params = replace(params, logprobs=True)
    generated = nat_llm.generate(prompts, params)
    credits: dict[str, list[float]] = {name: [] for name in [*WEIGHTS, "probability"]}
    for problem, row in zip(test, generated, strict=True):
        rationales = [completion.text for completion in row]
        scores = score_rationales(ranker, tokenizer, problem.question, rationales)
        answers = [extract_answer(r) for r in rationales]
        for name in WEIGHTS:
            winners = vote(answers, scores, name, same=equivalent)
            credits[name].append(credit(winners, problem.answer, equivalent))
        # Weighted-sum self-consistency: each vote weighted by its sample's probability.
        weights = [sequence_weight(completion.logprobs) for completion in row]
        winners = vote(answers, weights, "s", same=equivalent)
        credits["probability"].append(credit(winners, problem.answer, equivalent))
    return credits, len(triples)


def _problems(
    config: DistillConfig, path: str | None, per_task: int, seed: int
) -> list[Problem]:
    if path is not None:
        return load_problems(path)
    return [p for task in config.tasks for p in reasoning_gym_problems(task, per_task, seed)]


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _reporter(report: Progress | None) -> Progress:
    counts: dict[str, int] = {}

    def step(phase: str, done: int, total: int, /, **figures: str) -> None:
        counts[phase] = counts.get(phase, 0) + done if total == 0 else done
        if report is not None:
            report(phase, counts[phase], total, **figures)

    return step
