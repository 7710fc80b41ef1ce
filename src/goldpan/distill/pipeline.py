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
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from goldpan.data.json_lines import json_object, read_json_lines
from goldpan.distill.answers import equivalent, extract_answer, is_correct
from goldpan.distill.asc import WEIGHTS, credit, sequence_weight, vote
from goldpan.distill.baselines import contrastive_loss, negative_data_loss
from goldpan.distill.config import DistillConfig
from goldpan.distill.imported import grade_rationales, read_rationales
from goldpan.distill.nat import nat_state
from goldpan.distill.rationales import (
    COT_PROMPT,
    Collected,
    collect_rationales,
    load_problems,
    read_collected,
    reasoning_gym_problems,
    write_collected,
)
from goldpan.distill.results import (
    METHOD_LABELS,
    VOTE_LABELS,
    DistillResults,
    RationaleCounts,
)
from goldpan.distill.simulated import SPEC as SIMULATED
from goldpan.distill.simulated import SimulatedTeacher, parse_spec
from goldpan.distill.stages import StageLog, run_key
from goldpan.distill.train import (
    load_nat,
    lora_weights,
    train_lora,
    train_nat,
    train_nce,
)
from goldpan.errors import GoldpanError
from goldpan.llm import LLM, GenerationParams, make_llm
from goldpan.llm.cache import GenerationCache
from goldpan.llm.transformers_backend import TransformersBackend
from goldpan.models.memory import release_memory
from goldpan.train import phase_steps
from goldpan.util.atomic import atomic_write_text
from goldpan.util.json_lines import write_json_lines

Report = Callable[..., None]  # report(phase, done, total, **figures)


def _answers(llm: LLM, problems: list[dict[str, str]], params: GenerationParams) -> list[list[str]]:
    prompts = [COT_PROMPT.format(question=p["question"]) for p in problems]
    return [[c.text for c in row] for row in llm.generate(prompts, params)]


def _in_memory(name: str, model: Any, tokenizer: Any) -> LLM:
    tokenizer.padding_side = "left"
    return LLM(TransformersBackend.from_objects(name, model, tokenizer))


def make_teacher(
    spec: str, problems: list[dict[str, Any]], config: DistillConfig, out: Path
) -> LLM:
    """The teacher: any ``llm`` spec, or ``simulated[:RATE]`` (worked solutions with slips at a
    known rate, for experiments on machines without a strong teacher)."""
    cache = out / "llm-cache.sqlite"
    if spec == SIMULATED or spec.startswith(SIMULATED + ":"):
        teacher = SimulatedTeacher(problems, parse_spec(spec), config.seed)
        return LLM(teacher, GenerationCache(cache))
    return make_llm(spec, cache)


def solved(llm: LLM, problems: list[dict[str, str]], max_new_tokens: int) -> list[bool]:
    """Whether the greedy answer to each problem is correct."""
    params = GenerationParams(temperature=0.0, max_new_tokens=max_new_tokens)
    rows = _answers(llm, problems, params)
    return [is_correct(row[0], p["answer"]) for row, p in zip(rows, problems, strict=True)]


def greedy_accuracy(llm: LLM, problems: list[dict[str, str]], max_new_tokens: int) -> float:
    return _share(solved(llm, problems, max_new_tokens))


class Evaluator:
    """Greedy accuracy of each method on the test problems, per subject with the macro average
    (the paper's Table 2 layout), and on every out-of-distribution test set."""

    def __init__(
        self,
        results: DistillResults,
        test: list[dict[str, Any]],
        extra: dict[str, list[dict[str, Any]]],
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
            if problem.get("subject"):
                subjects.setdefault(str(problem["subject"]), []).append(flag)
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


# The stages of a run, in order; ``until`` stops after one of them.
STAGES = ("data", "cot_kd", "negative", "nat", "nce", "asc")


def run_distillation(
    config: DistillConfig,
    out: str | Path,
    student: str = "smollm2-135m-instruct",
    teacher: str | None = None,
    report: Report | None = None,
    until: str | None = None,
) -> DistillResults:
    """The whole method, or its stages up to ``until``. With ``config.rationales_file`` the
    teacher's rationales come from that file (graded here) and no teacher is asked; with
    ``until="data"`` no student model is loaded either. A rerun with the same settings skips
    the stages already finished (``stages.json``)."""
    if until is not None and until not in STAGES:
        raise GoldpanError(f"--until {until!r}: choose one of {', '.join(STAGES)}")
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = StageLog(out, run_key(config, student, teacher))
    step = _reporter(report)
    test = _problems(config, config.test_file, config.test_per_task, config.test_seed)
    teacher_llm: LLM | None = None
    if log.finished("data"):
        train, collected = read_collected(out / "data")
        results = DistillResults.model_validate_json((out / "results.json").read_text())
    else:
        usage: dict[str, Any] = {}
        if config.rationales_file is not None:
            train, collected = grade_rationales(read_rationales(config.rationales_file))
        else:
            train = _problems(config, config.train_file, config.train_per_task, config.train_seed)
            teacher_llm = make_teacher(teacher or student, train + test, config, out)
            collected = collect_rationales(
                teacher_llm, train, config.samples, config.temperature, config.max_new_tokens,
                config.seed,
            )
            usage = teacher_llm.usage.to_json()
        counts = write_collected(collected, out / "data", train)
        results = DistillResults(
            data=RationaleCounts(**counts), teacher_usage=usage,
            config=config.model_dump(mode="json"),
        )
        _stage_done(log, "data", results, out, started)
    if until == "data":
        return _finish(results, out, started)
    if not collected.positive or not collected.negative:
        raise GoldpanError(
            f"distill: the teacher gave {results.data.positive} correct and "
            f"{results.data.negative} wrong rationales; both are needed (use more problems or "
            "samples, or another teacher)"
        )
    training = config.student
    extra = {name: load_problems(path) for name, path in config.extra_test_files.items()}
    evaluate = Evaluator(results, test, extra, config.max_new_tokens)
    if not log.finished("base"):
        if teacher_llm is None and config.rationales_file is None:
            teacher_llm = make_teacher(teacher or student, train + test, config, out)
        if teacher_llm is not None and "teacher" in config.baselines:
            evaluate("teacher", teacher_llm)
        evaluate("base", make_llm(student))
        step("evaluate base", 1, 1)
        release_memory()  # each phase loads its own copy of the student
        _stage_done(log, "base", results, out, started)
    if not log.finished("cot_kd"):
        kd, tokenizer = train_lora(
            student, collected.positive, training, phase_steps(step, "train CoT KD")
        )
        kd.save_pretrained(out / "adapters" / "cot_kd")
        evaluate("cot_kd", _in_memory("cot_kd", kd, tokenizer))
        del kd
        release_memory()
        _stage_done(log, "cot_kd", results, out, started)
    if until == "cot_kd":
        return _finish(results, out, started)
    negative_path = out / "adapters" / "negative_lora.pt"
    if log.finished("negative"):
        negative = torch.load(negative_path, weights_only=True)
    else:
        negative_model, tokenizer = train_lora(
            student, collected.negative, training, phase_steps(step, "train negative")
        )
        negative_model.save_pretrained(out / "adapters" / "negative")
        negative = lora_weights(negative_model, training.lora.targets)
        torch.save(negative, negative_path)
        if "negative" in config.baselines:  # the paper's Table 1: what M_neg solves, with whom
            evaluate("negative", _in_memory("negative", negative_model, tokenizer))
            results.solved_overlap = overlap(results.solved["cot_kd"], results.solved["negative"])
        del negative_model
        release_memory()
        _stage_done(log, "negative", results, out, started)
    if until == "negative":
        return _finish(results, out, started)
    nat_path = _mkdir(out / "adapters" / "nat") / "nat.pt"
    if log.finished("nat"):
        nat, layers, tokenizer = load_nat(student, negative, nat_path, training)
    else:
        nat, layers, tokenizer = train_nat(
            student, collected.positive, negative, training, phase_steps(step, "train NAT")
        )
        torch.save(nat_state(nat), nat_path)
        evaluate("nat", _in_memory("nat", nat, tokenizer))
        _stage_done(log, "nat", results, out, started)
    nat_llm = _in_memory("nat", nat, tokenizer)
    if until == "nat":
        return _finish(results, out, started)
    # NAT's own samples on the training questions serve twice: the correct ones augment D_pos
    # for NCE (the paper's self-augmentation), and all of them train the ASC ranker.
    samples_path = out / "data" / "nat_samples.jsonl"
    if samples_path.is_file() and log.finished("nat_samples"):
        rows = read_json_lines(samples_path, "NAT samples", json_object, "a JSON object")
        own = [row["samples"] for row in rows]
    else:
        own = _answers(nat_llm, train, _sampling(config))
        write_json_lines(samples_path, [{"id": p["id"], "samples": s}
                                        for p, s in zip(train, own, strict=True)])
        log.mark("nat_samples")
    nce_rows = list(collected.positive)
    if config.nce_self_augment:
        augmented = self_augmentation(train, own, collected.positive)
        write_json_lines(out / "data" / "nat_augmented.jsonl", augmented)
        results.nce_augmented = len(augmented)
        nce_rows += augmented
    if not log.finished("nce"):
        nce, nce_tokenizer = train_nce(
            student, nce_rows, nat, layers, training, phase_steps(step, "train NCE"),
            reduction=config.nce_reduction,
        )
        nce.save_pretrained(out / "adapters" / "nce")
        evaluate("nce", _in_memory("nce", nce, nce_tokenizer))
        del nce
        release_memory()
        _stage_done(log, "nce", results, out, started)
    if until == "nce":
        return _finish(results, out, started)
    _baselines(student, train, collected, nce_rows, nat, layers, config, evaluate, step,
               lambda name: _stage_done(log, f"baseline {name}", results, out, started),
               lambda name: log.finished(f"baseline {name}"))
    if not log.finished("asc"):
        results.self_consistency_credit, results.ranker_pairs = _asc(
            nat_llm, train, own, test, collected, config, out, step
        )
        results.self_consistency = {
            name: sum(credits) / max(1, len(credits))
            for name, credits in results.self_consistency_credit.items()
        }
        _stage_done(log, "asc", results, out, started)
    return _finish(results, out, started)


def _stage_done(
    log: StageLog, stage: str, results: DistillResults, out: Path, started: float
) -> None:
    """Save what the stage found, then mark it finished: a crash in between redoes the stage."""
    _finish(results, out, started)
    log.mark(stage)


def _finish(results: DistillResults, out: Path, started: float) -> DistillResults:
    results.seconds = round(time.perf_counter() - started, 1)
    atomic_write_text(out / "results.json", results.model_dump_json(indent=2))
    atomic_write_text(out / "results.md", results_table(results))
    return results


def contrast_rows(collected: Collected, negatives: int, seed: int) -> list[dict[str, Any]]:
    """CL's training rows: every D_pos rationale, with (at most ``negatives``, drawn with the
    seed) wrong rationales for the same question to be contrasted with."""
    wrong: dict[str, list[str]] = {}
    for row in collected.negative:
        wrong.setdefault(row["id"], []).append(row["rationale"])
    rng = random.Random(seed)
    rows = []
    for row in collected.positive:
        pool = wrong.get(row["id"], [])
        rows.append({**row, "contrast": rng.sample(pool, min(negatives, len(pool)))})
    return rows


def _baselines(
    student: str,
    train: list[dict[str, Any]],
    collected: Collected,
    nce_rows: list[dict[str, Any]],
    nat: Any,
    layers: Any,
    config: DistillConfig,
    evaluate: Evaluator,
    step: Report,
    done: Callable[[str], None],
    finished: Callable[[str], bool],
) -> None:
    """The comparison rows that train a student of their own: MIX, NT, UL, CL, fine-tuning on
    the gold solutions, and KD from NAT without the calibration."""
    training = config.student
    negatives = [{**row, "negative": True} for row in collected.negative]
    gold = [
        {"question": p["question"], "rationale": p["solution"]} for p in train if p.get("solution")
    ]
    runs = {
        "mix": (list(collected.positive) + list(collected.negative), None),
        "nt": (list(collected.positive) + negatives, negative_data_loss("nt")),
        "ul": (list(collected.positive) + negatives, negative_data_loss("ul")),
        "cl": (contrast_rows(collected, config.cl_negatives, config.seed),
               contrastive_loss(config.cl_weight, config.cl_temperature)),
        "gold": (gold, None),
    }
    for name, (rows, loss_fn) in runs.items():
        if name not in config.baselines or not rows or finished(name):
            continue
        model, tokenizer = train_lora(
            student, rows, training, phase_steps(step, f"train {name}"), loss_fn
        )
        evaluate(name, _in_memory(name, model, tokenizer))
        del model
        release_memory()
        done(name)
    if "kd" in config.baselines and not finished("kd"):
        model, tokenizer = train_nce(
            student, nce_rows, nat, layers, training, phase_steps(step, "train KD"),
            calibrate=False, reduction=config.nce_reduction,
        )
        evaluate("kd", _in_memory("kd", model, tokenizer))
        del model
        release_memory()
        done("kd")


def _sampling(config: DistillConfig) -> GenerationParams:
    """How NAT samples rationales (for self-augmentation, the ranker and ASC's votes)."""
    return GenerationParams(
        n=config.asc_samples,
        temperature=config.asc_temperature,
        max_new_tokens=config.max_new_tokens,
        seed=config.seed,
    )


def self_augmentation(
    train: list[dict[str, Any]], samples: list[list[str]], positive: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """NAT's correct rationales for the training questions, as D_pos rows (the ones already in
    D_pos not again)."""
    known = {(row["id"], row["rationale"]) for row in positive}
    rows = []
    for problem, rationales in zip(train, samples, strict=True):
        for index, rationale in enumerate(dict.fromkeys(r.strip() for r in rationales)):
            if (problem["id"], rationale) in known or not is_correct(rationale, problem["answer"]):
                continue
            rows.append({"id": problem["id"], "sample": f"nat-{index}",
                         "question": problem["question"], "gold": problem["answer"],
                         "rationale": rationale, "extracted": extract_answer(rationale),
                         "source": "nat"})
    return rows


def _asc(
    nat_llm: LLM,
    train: list[dict[str, str]],
    own: list[list[str]],
    test: list[dict[str, str]],
    collected: Collected,
    config: DistillConfig,
    out: Path,
    step: Report,
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
    prompts = [COT_PROMPT.format(question=p["question"]) for p in test]
    params = replace(params, logprobs=True)
    generated = nat_llm.generate(prompts, params)
    credits: dict[str, list[float]] = {name: [] for name in [*WEIGHTS, "probability"]}
    for problem, row in zip(test, generated, strict=True):
        rationales = [completion.text for completion in row]
        scores = score_rationales(ranker, tokenizer, problem["question"], rationales)
        answers = [extract_answer(r) for r in rationales]
        for name in WEIGHTS:
            winners = vote(answers, scores, name, same=equivalent)  # type: ignore[arg-type]
            credits[name].append(credit(winners, problem["answer"], equivalent))
        # Weighted-sum self-consistency: each vote weighted by its sample's probability.
        weights = [sequence_weight(completion.logprobs) for completion in row]
        winners = vote(answers, weights, "s", same=equivalent)
        credits["probability"].append(credit(winners, problem["answer"], equivalent))
    return credits, len(triples)


def results_table(results: DistillResults) -> str:
    """results.md: accuracy per method (with the macro average over subjects and one column per
    out-of-distribution set when there are any), then the self-consistency votes."""
    accuracy, sc, data = results.accuracy, results.self_consistency, results.data
    counts = (
        f"D_pos {data.positive} rationales, D_neg {data.negative} "
        f"({data.questions} training questions, {data.questions_with_both} with both)."
    )
    if not accuracy:
        return counts + "\n"
    extra = list(results.extra_accuracy)
    macro = bool(results.macro_accuracy)
    header = ["method", "accuracy", *(["macro over subjects"] if macro else []), *extra]
    lines = [counts, "", "| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1)
             + "|"]
    for method, value in accuracy.items():
        cells = [METHOD_LABELS.get(method, method), f"{value:.3f}"]
        if macro:
            cells.append(_cell(results.macro_accuracy.get(method)))
        cells += [_cell(results.extra_accuracy[name].get(method)) for name in extra]
        lines.append("| " + " | ".join(cells) + " |")
    blank = [""] * (len(header) - 2)
    lines += ["| " + " | ".join([VOTE_LABELS.get(k, k), f"{v:.3f}", *blank]) + " |"
              for k, v in sc.items()]
    if results.solved_overlap is not None:
        lines += ["", f"Problems solved by both CoT KD and M_neg, over those solved by either "
                      f"(IoU): {results.solved_overlap:.3f}."]
    return "\n".join(lines) + "\n"


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _problems(
    config: DistillConfig, path: str | None, per_task: int, seed: int
) -> list[dict[str, str]]:
    if path is not None:
        return load_problems(path)
    return [p for task in config.tasks for p in reasoning_gym_problems(task, per_task, seed)]


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _reporter(report: Report | None) -> Report:
    counts: dict[str, int] = {}

    def step(phase: str, done: int, total: int, **figures: str) -> None:
        counts[phase] = counts.get(phase, 0) + done if total == 0 else done
        if report is not None:
            report(phase, counts[phase], total, **figures)

    return step
