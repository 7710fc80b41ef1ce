"""How much the probe step's arithmetic decides which outputs Montessori-Instruct prefers.

The reference measures each probe in pure bf16 (its student and AdamW state are bf16, so most
~5e-6 updates round away) with the loss divided by its 8 processes (DDP averages the 8 equal
gradients: the step sees g/8); goldpan's small profile takes fp32 and g. Pairs split at I = 0,
so these choices can change which outputs become chosen and rejected. On one warmed-up student
and the same probes, each variant's influences are compared with fp32/g: the share of probes
whose sign agrees, the mean within-prompt Kendall tau (the ranking DPO's pairs come from), and
the share of fp32/g's preference pairs the variant forms too. The first-order estimate
(-g_ref . step) is measured the same way, against the exact fp32/g values.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from goldpan.synth.config import MontessoriConfig
from goldpan.synth.influence import local_influences, reference_gradient
from goldpan.synth.montessori import encode_examples, fresh_student, read_synthetic
from goldpan.synth.preferences import preference_pairs
from goldpan.synth.records import InstructionExample, ScoredExample
from goldpan.train import mean_loss
from goldpan.util.atomic import atomic_write_json

# name -> (dtype, loss scale, first order)
VARIANTS: dict[str, tuple[str, float, bool]] = {
    "fp32, g": ("float32", 1.0, False),
    "bf16, g": ("bfloat16", 1.0, False),
    "fp32, g/8": ("float32", 0.125, False),
    "bf16, g/8 (reference)": ("bfloat16", 0.125, False),
    "fp32, g, first order": ("float32", 1.0, True),
}
BASELINE = "fp32, g"


class VariantFigures(BaseModel):
    name: str
    helpful_share: float
    sign_agreement: float  # with fp32/g, over probes
    within_prompt_kendall_tau: float | None  # mean over prompts with 2+ probes
    pairs: int
    pairs_shared: float | None  # share of fp32/g's pairs this variant forms too
    unchanged_weights: float  # share of weights the first probe's step leaves as they were
    influences: list[float | None] = Field(default_factory=list)


class ProbeNumerics(BaseModel):
    probes: int
    reference_examples: int
    prompts_with_two_or_more: int
    variants: list[VariantFigures]


def _unchanged_share(trainer: Any, probe: Any) -> float:
    trainer.lookahead([[probe]])
    share = trainer.lookahead_unchanged()
    trainer.undo_lookahead()
    return share


def _variant(base: Any, probes: list[Any], reference: list[Any], dtype: str, scale: float,
             first_order: bool) -> tuple[list[float | None], float]:
    import torch

    trainer = base.replica(torch.device("cpu"))
    trainer.gradient_scale = scale
    if dtype != "float32":
        trainer.cast(getattr(torch, dtype))
    before = mean_loss(trainer.model, reference, trainer.pad)
    gradient = reference_gradient(trainer, reference) if first_order else None
    values = [None if v is None else v.value for v in
              local_influences(trainer, probes, reference, before=before, gradient=gradient)]
    return values, _unchanged_share(trainer, probes[0])


def _tau(first: list[float], second: list[float]) -> float | None:
    from scipy.stats import kendalltau

    tau = kendalltau(first, second).statistic
    return None if tau is None or math.isnan(tau) else float(tau)


def _figures(name: str, values: list[float | None], baseline: list[float | None],
             records: list[InstructionExample], unchanged: float) -> VariantFigures:
    both = [(v, b) for v, b in zip(values, baseline, strict=True)
            if v is not None and b is not None]
    by_prompt: dict[str | None, list[tuple[float, float]]] = defaultdict(list)
    for record, v, b in zip(records, values, baseline, strict=True):
        if v is not None and b is not None:
            by_prompt[record.prompt].append((v, b))
    taus = [t for group in by_prompt.values() if len(group) >= 2
            if (t := _tau([v for v, _ in group], [b for _, b in group])) is not None]

    def pair_set(influences: list[float | None]) -> set[tuple[str, str, str]]:
        scored = [ScoredExample(r, v) for r, v in zip(records, influences, strict=True)]
        return {(p.prompt, p.chosen, p.rejected) for p in preference_pairs(scored)}

    ours, theirs = pair_set(values), pair_set(baseline)
    return VariantFigures(
        name=name,
        helpful_share=sum(v > 0 for v, _ in both) / len(both),
        sign_agreement=sum((v > 0) == (b > 0) for v, b in both) / len(both),
        within_prompt_kendall_tau=sum(taus) / len(taus) if taus else None,
        pairs=len(ours),
        pairs_shared=len(ours & theirs) / len(theirs) if theirs else None,
        unchanged_weights=unchanged,
        influences=values,
    )


def probe_numerics(run: Path, student: str, config: MontessoriConfig,
                   reference: list[InstructionExample], probes: int, out: Path) -> ProbeNumerics:
    """The variants on one warmed-up student: warmed up on the run's first W examples, probed
    with the next ``probes``; written to ``out/probe_numerics.json``."""
    records = read_synthetic(run / "iteration-0")
    warmup = records[: config.warmup_examples]
    probed = records[config.warmup_examples : config.warmup_examples + probes]
    loaded, trainer = fresh_student(student, config, config.student)
    tokenizer = loaded.tokenizer
    trainer.fit(encode_examples(tokenizer, warmup, config.student))
    trainer.config = trainer.config.model_copy(update={"max_grad_norm": None})
    encoded, encoded_reference = (encode_examples(tokenizer, probed, config.student),
                                  encode_examples(tokenizer, reference, config.student))
    measured = {name: _variant(trainer, encoded, encoded_reference, *settings)
                for name, settings in VARIANTS.items()}
    baseline = measured[BASELINE][0]
    counts: dict[str | None, int] = defaultdict(int)
    for record in probed:
        counts[record.prompt] += 1
    result = ProbeNumerics(
        probes=len(probed), reference_examples=len(reference),
        prompts_with_two_or_more=sum(c >= 2 for c in counts.values()),
        variants=[_figures(name, values, baseline, probed, unchanged)
                  for name, (values, unchanged) in measured.items()],
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "probe_numerics.json", result.model_dump(mode="json"))
    return result


def probe_numerics_table(result: ProbeNumerics) -> str:
    lines = [
        f"{result.probes} probes on one warmed-up student, D_ref of {result.reference_examples}; "
        f"{result.prompts_with_two_or_more} prompts with 2+ probes.",
        "",
        "| variant | helpful | sign agreement with fp32/g | within-prompt Kendall tau | "
        "pairs | fp32/g's pairs kept | weights the step leaves unchanged |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for v in result.variants:
        tau = "-" if v.within_prompt_kendall_tau is None else f"{v.within_prompt_kendall_tau:.2f}"
        kept = "-" if v.pairs_shared is None else f"{v.pairs_shared:.2f}"
        lines.append(f"| {v.name} | {v.helpful_share:.2f} | {v.sign_agreement:.2f} | {tau} | "
                     f"{v.pairs} | {kept} | {v.unchanged_weights:.3f} |")
    return "\n".join(lines) + "\n"
