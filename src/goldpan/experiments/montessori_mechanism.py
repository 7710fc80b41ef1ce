"""Montessori-Instruct's mechanism on a CPU: after DPO on influence pairs, does the teacher write
data that is more influential for the student? (the paper's Fig. 3c, tested directly, without
training final students).

Per seed: one Montessori iteration up to the teacher's update (the original teacher's data,
the student warmed up on the first W examples, each other example's influence against D_ref,
pairs, DPO at the reference's 2 pairs a step). Then the same K fresh prompts go to the original
and to the updated teacher; for each prompt, each teacher's first sample that passes the
instruction filters, with its response, is one probe; both teachers' probes are measured from
one freshly warmed-up student against a second reference set, disjoint from D_ref. The
difference updated - original is paired by prompt.

The decision, fixed before any run: the mechanism is shown at this scale if the mean over seeds
of the per-seed mean difference has a 95% t interval (seeds - 1 degrees of freedom) above 0;
below 0 shows the opposite; an interval containing 0 shows nothing either way. The pooled
prompt-level interval is reported too, but it counts only the prompts' noise.

The D1 check: one run's preference pairs split by prompt; DPO from the original teacher on
three quarters of them with accumulation 1 (the reference) and 8 (goldpan's earlier default),
then the change of log p(chosen) - log p(rejected) on the held-out quarter.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from goldpan.data.json_lines import json_object, read_json_lines
from goldpan.llm import LLM, make_llm
from goldpan.models.memory import release_memory
from goldpan.synth.bootstrap import InstructionPool
from goldpan.synth.config import MontessoriConfig
from goldpan.synth.instruction_sets import ReferenceFilter, disjoint_sets, sharegpt_pool
from goldpan.synth.montessori import (
    instruction_params,
    measure_influence,
    montessori,
    montessori_pool,
    read_synthetic,
    response_params,
    round_prompts,
    tagged_instruction,
)
from goldpan.synth.records import InfluencePair, InstructionExample
from goldpan.synth.self_instruct import load_seed_tasks
from goldpan.train.method_run import run_key
from goldpan.util.atomic import atomic_write_json
from goldpan.util.intervals import Estimate, mean_interval

# The CPU-sized setup of issue 32: a teacher twice the student's size, D_ref of 256, DPO at
# 2 pairs a step, influence against D_ref to first order (one forward and backward pass over
# D_ref instead of one forward pass per probe; its agreement with the exact value is measured
# by `goldpan synth probe-numerics`), the mechanism's own probes measured exactly.
MECHANISM_SETTINGS: dict[str, Any] = {
    "iterations": 1,
    "prompts": 16,
    "prompts_per_round": 8,
    "warmup_examples": 16,
    "reference_examples": 256,
    "influence_estimate": "first_order",
    "student": {"max_length": 128},
    "dpo": {"batch_size": 2, "gradient_accumulation": 1},
}


class MechanismSeed(BaseModel):
    """One seed's run: the teacher's update and the paired influences of the two teachers'
    outputs for the same prompts."""

    seed: int
    teacher: str
    student: str
    reference_examples: int
    probe_reference_examples: int
    iteration_probes: int = 0
    dpo_pairs: int = 0
    dpo_loss: list[float] = Field(default_factory=list)
    prompts: int = 0
    instructions: dict[str, list[str | None]] = Field(default_factory=dict)
    original: list[float | None] = Field(default_factory=list)
    updated: list[float | None] = Field(default_factory=list)
    paired_prompts: int = 0
    mean_difference: float | None = None  # updated - original, over the paired prompts
    difference_over_prompts: Estimate | None = None
    estimate: str = "exact"
    key: str = ""  # the settings that produced it: a rerun with the same key reads it back
    seconds: float = 0.0
    note: str = ""


class MechanismComparison(BaseModel):
    seeds: list[int]
    per_seed_difference: list[float | None]
    difference_over_seeds: Estimate
    difference_over_prompts: Estimate  # pooled over seeds: the prompts' noise only
    updated_higher_share: float | None
    verdict: str


def _usable_outputs(llm: LLM, prompts: list[str], config: MontessoriConfig,
                    pool: InstructionPool) -> list[InstructionExample | None]:
    """Per prompt, the first sample whose instruction passes the filters (nothing is added to
    the pool: the two teachers' outputs must not compete for novelty), with a response."""
    tagged = config.prompt_format == "reference"
    chosen: list[tuple[str, str, str] | None] = []
    for prompt, samples in zip(prompts, llm.generate(prompts, instruction_params(config)),
                               strict=True):
        found = None
        for completion in samples:
            text = (tagged_instruction(completion.text) or "") if tagged else completion.text
            verdict = pool.judge(text, completion.finish_reason == "length")
            if verdict.problem is None:
                found = (prompt, completion.text, verdict.instruction)
                break
        chosen.append(found)
    asked = [c[2] for c in chosen if c is not None]
    answers = iter(llm.generate(asked, response_params(config)) if asked else [])
    result: list[InstructionExample | None] = []
    for entry in chosen:
        if entry is None:
            result.append(None)
            continue
        response = next(answers)[0].text.strip()
        result.append(InstructionExample(entry[2], response, entry[0], entry[1])
                      if response else None)
    return result


def mechanism_sets(config: MontessoriConfig, probe_reference: int, seed: int = 42,
                   reference_filter: ReferenceFilter = "none"
                   ) -> tuple[list[InstructionExample], list[InstructionExample]]:
    """D_ref and the second reference set: one seeded draw, so they share no example."""
    d_ref, second = disjoint_sets(sharegpt_pool(reference_filter),
                                  [config.reference_examples, probe_reference], seed)
    return d_ref, second


def run_mechanism_seed(teacher: str, student: str, config: MontessoriConfig, out: Path,
                       prompts: int, probe_reference: int,
                       mechanism_estimate: str = "exact") -> MechanismSeed:
    """One seed of the experiment, its result written to ``out/mechanism.json``; a rerun with
    the same settings reads it back (the Montessori part resumes by its own phases)."""
    started = time.perf_counter()
    key = run_key(config=config.model_dump(mode="json"), teacher=teacher, student=student,
                  prompts=prompts, probe_reference=probe_reference, estimate=mechanism_estimate)
    if (out / "mechanism.json").is_file():
        done = read_seed(out)
        if done.key == key:
            return done
    d_ref, second = mechanism_sets(config, probe_reference)
    result = MechanismSeed(seed=config.seed, teacher=teacher, student=student,
                           reference_examples=len(d_ref), probe_reference_examples=len(second),
                           prompts=prompts, estimate=mechanism_estimate, key=key)
    run = out / "run"
    summary = montessori(teacher, student, d_ref, config, run, until="iteration-0 teacher")
    first = summary.iterations[0]
    result.iteration_probes, result.dpo_pairs, result.dpo_loss = (
        first.probes, first.pairs, first.dpo_loss)
    updated = run / "iteration-0" / "teacher"
    if not (updated / "config.json").is_file():
        result.note = "no preference pairs: the teacher was not updated"
        return _saved(result, out, started)
    pool = montessori_pool(load_seed_tasks(config.seed_tasks), config)
    asked = round_prompts(pool, config, random.Random(config.seed + 104_729), prompts, None)
    outputs = {}
    for name, spec in (("original", teacher), ("updated", str(updated))):
        outputs[name] = _usable_outputs(make_llm(spec, out / "llm-cache.sqlite"), asked, config,
                                        pool)
        release_memory()
        result.instructions[name] = [o.instruction if o else None for o in outputs[name]]
    both = [k for k in range(prompts)
            if outputs["original"][k] is not None and outputs["updated"][k] is not None]
    warmup = read_synthetic(run / "iteration-0")[: config.warmup_examples]
    probes = [outputs[name][k] for name in ("original", "updated") for k in both]
    exact = config.model_copy(update={"influence_estimate": mechanism_estimate,
                                      "warmup_examples": len(warmup)})
    scored, _ = measure_influence(student, warmup + probes, second, exact)  # type: ignore[operator]  # no None among the probes
    values = [s.influence for s in scored]
    result.original, result.updated = [None] * prompts, [None] * prompts
    for position, k in enumerate(both):
        result.original[k], result.updated[k] = values[position], values[len(both) + position]
    differences = [u - o for u, o in zip(result.updated, result.original, strict=True)
                   if u is not None and o is not None]
    result.paired_prompts = len(differences)
    if differences:
        result.mean_difference = sum(differences) / len(differences)
        result.difference_over_prompts = mean_interval(differences)
    return _saved(result, out, started)


def _saved(result: MechanismSeed, out: Path, started: float) -> MechanismSeed:
    result.seconds = round(time.perf_counter() - started, 1)
    atomic_write_json(out / "mechanism.json", result.model_dump(mode="json"))
    return result


def compare_mechanism(folders: list[Path]) -> MechanismComparison:
    """The seeds read together, and the pre-set decision."""
    results = [read_seed(folder) for folder in folders]
    per_seed = [r.mean_difference for r in results]
    over_seeds = mean_interval([d for d in per_seed if d is not None])
    pooled = [u - o for r in results for u, o in zip(r.updated, r.original, strict=True)
              if u is not None and o is not None]
    if over_seeds.n < 2:
        verdict = "fewer than two seeds with paired prompts: no interval"
    elif over_seeds.low > 0:
        verdict = "shown: the updated teacher's data is more influential (interval above 0)"
    elif over_seeds.high < 0:
        verdict = "the opposite: the updated teacher's data is less influential"
    else:
        verdict = "not shown either way: the interval over seeds contains 0"
    return MechanismComparison(
        seeds=[r.seed for r in results], per_seed_difference=per_seed,
        difference_over_seeds=over_seeds, difference_over_prompts=mean_interval(pooled),
        updated_higher_share=sum(d > 0 for d in pooled) / len(pooled) if pooled else None,
        verdict=verdict,
    )


class AccumulationCheck(BaseModel):
    """The D1 check: how far DPO moves the teacher on held-out pairs, by accumulation."""

    train_pairs: int
    held_out_pairs: int
    margin_before: float
    margin_change: dict[str, float]  # accumulation -> mean change of the held-out margins
    margin_change_interval: dict[str, Estimate]
    # accumulation -> mean change of the trained pairs' margins: how far the update moved at
    # all, beside how far it carried to pairs it did not see
    train_margin_change: dict[str, float] = Field(default_factory=dict)


def accumulation_check(run: Path, teacher: str, config: MontessoriConfig, out: Path,
                       accumulations: tuple[int, ...] = (1, 8)) -> AccumulationCheck:
    """DPO from the original teacher on 3/4 of one run's pairs (split by prompt, seeded) with
    each accumulation; the held-out quarter's margin change under each."""
    from goldpan.models.load import resolve
    from goldpan.train.dpo import dpo_update, preference_margins

    pairs = read_json_lines(run / "iteration-0" / "preferences.jsonl", "preference pairs",
                            lambda row, line: InfluencePair.from_json(json_object(row, line)),
                            "a preference pair")
    prompts = sorted({p.prompt for p in pairs})
    random.Random(config.seed).shuffle(prompts)
    held_prompts = set(prompts[: max(1, len(prompts) // 4)])
    train = [p for p in pairs if p.prompt not in held_prompts]
    held = [p for p in pairs if p.prompt in held_prompts]
    original = resolve(teacher)
    before, trained_before = preference_margins(original, held), preference_margins(original, train)
    changes, intervals, trained = {}, {}, {}
    for accumulation in accumulations:
        folder = out / f"dpo-accumulation-{accumulation}"
        settings = config.dpo.model_copy(update={"gradient_accumulation": accumulation})
        dpo_update(original, train, folder, settings)
        after = preference_margins(folder, held)
        moved = [a - b for a, b in zip(after, before, strict=True)]
        changes[str(accumulation)] = sum(moved) / len(moved)
        intervals[str(accumulation)] = mean_interval(moved)
        trained_after = preference_margins(folder, train)
        trained[str(accumulation)] = (sum(trained_after) - sum(trained_before)) / len(train)
    check = AccumulationCheck(train_pairs=len(train), held_out_pairs=len(held),
                              margin_before=sum(before) / len(before), margin_change=changes,
                              margin_change_interval=intervals, train_margin_change=trained)
    atomic_write_json(out / "accumulation.json", check.model_dump(mode="json"))
    return check


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.6f}"


def _interval(estimate: Estimate | None) -> str:
    if estimate is None or estimate.n < 2:
        return "n/a"
    return f"{estimate.mean:+.6f} ({estimate.low:+.6f} to {estimate.high:+.6f}, n = {estimate.n})"


def mechanism_table(comparison: MechanismComparison, results: list[MechanismSeed]) -> str:
    """The per-seed figures and the decision, in Markdown."""
    lines = [
        "| seed | DPO pairs | paired prompts | mean influence, original | mean influence, "
        "updated | updated - original (95% over prompts) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        original = [v for v, u in zip(r.original, r.updated, strict=True)
                    if v is not None and u is not None]
        updated = [u for v, u in zip(r.original, r.updated, strict=True)
                   if v is not None and u is not None]
        lines.append(
            f"| {r.seed} | {r.dpo_pairs} | {r.paired_prompts} | "
            f"{_signed(sum(original) / len(original) if original else None)} | "
            f"{_signed(sum(updated) / len(updated) if updated else None)} | "
            f"{_interval(r.difference_over_prompts)} |")
    share = comparison.updated_higher_share
    lines += [
        "",
        f"- Over seeds (t, the decision): {_interval(comparison.difference_over_seeds)}",
        f"- Pooled over prompts (the prompts' noise only): "
        f"{_interval(comparison.difference_over_prompts)}",
        f"- Prompts where the updated teacher's output is more influential: "
        f"{'n/a' if share is None else f'{share:.2f}'}",
        f"- Verdict: {comparison.verdict}",
    ]
    return "\n".join(lines) + "\n"


def read_seed(folder: Path) -> MechanismSeed:
    return MechanismSeed.model_validate(json.loads((folder / "mechanism.json").read_text()))
