"""Montessori-Instruct's mechanics on tiny random models: local influence equals a real
one-step update, restoring is bit-identical, pairs follow the sign rule, DPO favours chosen."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from goldpan.synth.influence import local_influences, restore, snapshot
from goldpan.synth.preferences import preference_pairs
from goldpan.synth.records import InstructionExample
from goldpan.train import TrainConfig, Trainer, encode_example, mean_loss
from goldpan.train.dpo import DpoConfig, dpo_update
from tests.montessori_child import (
    EXAMPLES,
    HELD_OUT_PAIRS,
    REFERENCE_PAIRS,
    ScriptedTeacher,
    examples,
    scripted_synthesis,
)

STUDENT = TrainConfig(learning_rate=1e-3, batch_size=2, epochs=2, max_grad_norm=None)

REFERENCE = REFERENCE_PAIRS


@dataclass(frozen=True)
class Pair:
    """A preference pair as DPO reads it."""

    prompt: str
    chosen: str
    rejected: str


@pytest.fixture()
def student(tiny_lm: Path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm, dtype=torch.float32)
    trainer = Trainer(model, STUDENT, tokenizer.pad_token_id)
    encode = lambda pairs: [encode_example(tokenizer, i, r, 128) for i, r in pairs]  # noqa: E731
    trainer.fit(encode(EXAMPLES[:3]))
    return trainer, tokenizer, encode


def _state(model, optimizer):  # type: ignore[no-untyped-def]
    return [p.detach().clone() for p in model.parameters()], copy.deepcopy(optimizer.state_dict())


def test_labels_cover_only_the_response(tiny_lm: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    encoded = encode_example(tokenizer, "Name a colour.", "Blue.", 128)
    learned = [
        t for t, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != -100
    ]
    assert learned[:-1] == tokenizer("Blue.", add_special_tokens=False)["input_ids"]
    assert encoded.labels[0] == -100 and learned[-1] == tokenizer.eos_token_id


@pytest.mark.parametrize("method", ["lookahead", "snapshot"])
def test_influence_equals_the_loss_change_of_a_real_one_step_update(student, method) -> None:
    trainer, tokenizer, encode = student
    model, pad = trainer.model, tokenizer.pad_token_id
    probes, reference = encode(EXAMPLES[3:]), encode(REFERENCE)
    warm_weights, warm_optimizer = _state(model, trainer.optimizer)
    influences = local_influences(trainer, probes, reference, method=method)
    for probe, influence in zip(probes, influences, strict=True):
        # Directly: a fresh copy of the warmed-up student and optimiser, one real step.
        direct = copy.deepcopy(model)
        with torch.no_grad():
            for live, kept in zip(direct.parameters(), warm_weights, strict=True):
                live.copy_(kept)
        direct_trainer = Trainer(direct, STUDENT, pad)
        direct_trainer.optimizer.load_state_dict(copy.deepcopy(warm_optimizer))
        before = mean_loss(direct, reference, pad)
        direct_trainer.step([[probe]])
        after = mean_loss(direct, reference, pad)
        assert influence.before == pytest.approx(before, abs=1e-6)
        assert influence.after == pytest.approx(after, abs=1e-6)
        assert influence.value == pytest.approx(before - after, abs=1e-6)
    assert len({round(i.value, 8) for i in influences}) > 1  # probes differ


@pytest.mark.parametrize("method", ["lookahead", "snapshot"])
def test_restoring_leaves_the_student_and_optimiser_bit_identical(student, method) -> None:
    trainer, _, encode = student
    model, optimizer = trainer.model, trainer.optimizer
    weights, state = _state(model, optimizer)
    local_influences(trainer, encode(EXAMPLES[3:]), encode(REFERENCE), method=method)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), weights, strict=True))
    after = optimizer.state_dict()
    for key, kept in state["state"].items():
        for name, value in kept.items():
            assert torch.equal(torch.as_tensor(after["state"][key][name]), torch.as_tensor(value))
    assert after["param_groups"] == state["param_groups"]


def test_the_momentum_alone_is_a_zero_gradient_step(student) -> None:
    """R3: every probe's update contains the restored momentum's step; a zero-gradient
    lookahead measures that shared part, and leaves the student as it was."""
    from goldpan.synth.influence import momentum_influence

    trainer, tokenizer, encode = student
    weights, _ = _state(trainer.model, trainer.optimizer)
    reference = encode(REFERENCE)
    momentum = momentum_influence(trainer, reference)
    assert all(torch.equal(a, b) for a, b in zip(trainer.model.parameters(), weights, strict=True))
    assert momentum != 0.0
    # The same step written out: m' = beta1 m, v' = beta2 v, no gradient term.
    direct = copy.deepcopy(trainer.model)
    with torch.no_grad():
        for parameter, source in zip(direct.parameters(), trainer.model.parameters(), strict=True):
            state = trainer.optimizer.state[source]
            group = trainer.optimizer.param_groups[0]
            beta1, beta2 = group["betas"]
            step = float(state["step"]) + 1
            m, v = beta1 * state["exp_avg"], beta2 * state["exp_avg_sq"]
            denom = (v.sqrt() / (1 - beta2**step) ** 0.5) + group["eps"]
            parameter.mul_(1 - group["lr"] * group["weight_decay"])
            parameter.add_(-group["lr"] / (1 - beta1**step) * m / denom)
    pad = tokenizer.pad_token_id
    expected = mean_loss(trainer.model, reference, pad) - mean_loss(direct, reference, pad)
    assert momentum == pytest.approx(expected, abs=1e-6)


def test_probes_split_over_replicas_measure_what_one_trainer_does(student) -> None:
    """On several GPUs each gets a replica of the warmed-up trainer and a share of the probes;
    on CPUs the same code runs with CPU replicas, and must give the same influences."""
    from goldpan.synth.influence import influences_across

    trainer, _, encode = student
    probes, reference = encode(EXAMPLES[3:]), encode(REFERENCE)
    replica = trainer.replica(torch.device("cpu"))
    assert replica.model is not trainer.model
    counted: list[int] = []
    split = influences_across([trainer, replica], probes, reference, on_done=counted.append)
    alone = local_influences(trainer, probes, reference)
    assert [i.value for i in split] == pytest.approx([i.value for i in alone], abs=1e-6)
    assert sum(counted) == len(probes)


def test_first_order_influences_approach_the_exact_ones_as_the_step_shrinks(student) -> None:
    """-g_ref . step is the exact loss change to first order: with a small learning rate the two
    agree closely, probe by probe, and the momentum's share too."""
    from goldpan.synth.influence import momentum_influence, reference_gradient

    trainer, _, encode = student
    for group in trainer.optimizer.param_groups:
        group["lr"] = 1e-5
    probes, reference = encode(EXAMPLES[3:]), encode(REFERENCE)
    exact = [i.value for i in local_influences(trainer, probes, reference)]
    gradient = reference_gradient(trainer, reference)
    estimated = local_influences(trainer, probes, reference, gradient=gradient)
    assert [i.value for i in estimated] == pytest.approx(exact, rel=0.05, abs=1e-7)
    assert [i.before - i.after for i in estimated] == pytest.approx([i.value for i in estimated])
    assert momentum_influence(trainer, reference, gradient=gradient) == pytest.approx(
        momentum_influence(trainer, reference), rel=0.05)


def test_a_probe_loss_scale_of_one_eighth_steps_as_adamw_does_with_g_over_8(student) -> None:
    """The reference divides each probe's loss by its 8 processes (DDP then averages 8 equal
    gradients): the step sees g/8, which AdamW's moments do not cancel."""
    from goldpan.train.trainer import adamw_preview

    trainer, _, encode = student
    probe = encode(EXAMPLES[3:4])
    trainer._gradients([probe])
    gradients = [p.grad.clone() for p in trainer.parameters]
    trainer._zero_grad()
    trainer.gradient_scale = 0.125
    trainer.lookahead([probe])
    group = trainer.optimizer.param_groups[0]
    for live, kept, grad in zip(trainer.parameters, trainer._kept, gradients, strict=True):
        state = trainer.optimizer.state[live]
        expected = adamw_preview(kept, grad / 8, state, group)
        assert torch.allclose(live, expected, atol=1e-7)
    unscaled = adamw_preview(trainer._kept[0], gradients[0], trainer.optimizer.state[
        trainer.parameters[0]], group)
    assert not torch.allclose(trainer.parameters[0], unscaled, atol=1e-9)
    trainer.undo_lookahead()


def test_pure_bf16_probes_round_most_small_updates_away(student) -> None:
    """The reference probes in pure bf16: a step of ~lr 5e-6 on weights of magnitude ~0.02
    is below half a bf16 ulp for most weights, so they do not move; in fp32 every weight with a
    momentum or a gradient does."""
    trainer, _, encode = student
    for group in trainer.optimizer.param_groups:
        group["lr"] = 5e-6
    probe = encode(EXAMPLES[3:4])

    def unchanged_share() -> float:
        trainer.lookahead([probe])
        share = trainer.lookahead_unchanged()
        trainer.undo_lookahead()
        return share

    in_float32 = unchanged_share()  # weights with no momentum and no gradient stay anyway
    trainer.cast(torch.bfloat16)
    assert next(trainer.model.parameters()).dtype == torch.bfloat16
    assert all(v.dtype == torch.bfloat16 for s in trainer.optimizer.state.values()
               for k, v in s.items() if k != "step")
    in_bfloat16 = unchanged_share()
    assert in_bfloat16 > 0.5 and in_bfloat16 > in_float32 + 0.3


def test_lookahead_and_snapshot_measure_the_same_influences(tiny_lm: Path) -> None:
    values = {}
    for method in ("lookahead", "snapshot"):
        tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
        model = AutoModelForCausalLM.from_pretrained(tiny_lm, dtype=torch.float32)
        trainer = Trainer(model, STUDENT, tokenizer.pad_token_id)
        encode = lambda pairs: [encode_example(tokenizer, i, r, 128) for i, r in pairs]  # noqa: E731,B023
        trainer.fit(encode(EXAMPLES[:3]))
        found = local_influences(trainer, encode(EXAMPLES[3:]), encode(REFERENCE), method=method)
        values[method] = [i.value for i in found if i is not None]
    assert values["lookahead"] == pytest.approx(values["snapshot"], abs=1e-6)


def test_a_snapshot_survives_the_steps_taken_after_it(student) -> None:
    trainer, _, encode = student
    model, optimizer = trainer.model, trainer.optimizer
    saved = snapshot(model, optimizer)
    kept = [p.clone() for p in saved.parameters]
    for _ in range(2):
        trainer.step([encode(EXAMPLES[:2])])
    assert all(torch.equal(a, b) for a, b in zip(saved.parameters, kept, strict=True))
    restore(model, optimizer, saved)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), kept, strict=True))


def test_pairs_follow_the_sign_rule_within_each_prompt() -> None:
    from goldpan.synth.records import InstructionExample, ScoredExample

    records = [
        ScoredExample(InstructionExample("i", "r", prompt, output), influence)
        for prompt, output, influence in [
            ("p1", "a", 0.3), ("p1", "b", -0.1), ("p1", "c", 0.2), ("p1", "d", -0.4),
            ("p1", "z", 0.0), ("p2", "e", 0.5), ("p3", "f", -0.5),
        ]
    ]
    pairs = preference_pairs(records)
    assert {(p.prompt, p.chosen, p.rejected) for p in pairs} == {
        ("p1", "a", "b"), ("p1", "a", "d"), ("p1", "c", "b"), ("p1", "c", "d"),
    }  # fmt: skip
    assert all(p.chosen_influence > 0 > p.rejected_influence for p in pairs)


def _log_ratio(folder: Path, pairs: list[Pair]) -> float:
    """Mean of log p(chosen | prompt) - log p(rejected | prompt) under a model."""
    from goldpan.train.dpo import preference_margins

    margins = preference_margins(folder, pairs)
    return sum(margins) / len(margins)


def test_the_dpo_step_moves_the_teacher_towards_chosen_outputs(
    tiny_lm: Path, tmp_path: Path
) -> None:
    pairs = [
        Pair("Task 9:", " Name a river in Europe.", " Draw the map now."),
        Pair("Task 3:", " List two prime numbers.", " Plot a graph here."),
    ]
    before = _log_ratio(tiny_lm, pairs)
    result = dpo_update(
        tiny_lm,
        pairs,
        tmp_path / "teacher",
        DpoConfig(learning_rate=5e-3, epochs=3, batch_size=2),
    )
    after = _log_ratio(tmp_path / "teacher", pairs)
    assert after > before + 0.1
    assert result["pairs"] == 2 and any("loss" in entry for entry in result["log"])


def test_the_paper_profile_dpo_steps_on_two_pairs_at_a_time(tiny_lm: Path, tmp_path: Path) -> None:
    """The reference's DPO runs one process at 2 pairs a step (dpo_teacher.sh; the paper's
    train batch 2): six pairs make three optimiser steps, not one step of sixteen."""
    from goldpan.synth.config import MontessoriConfig

    settings = MontessoriConfig().dpo
    assert (settings.batch_size, settings.gradient_accumulation) == (2, 1)
    pairs = [Pair(f"Task {i}:", " Name a river.", " Draw.") for i in range(6)]
    result = dpo_update(tiny_lm, pairs, tmp_path / "teacher", settings)
    assert sum("learning_rate" in entry for entry in result["log"]) == 3


def test_the_dpo_update_follows_its_schedule(tiny_lm: Path, tmp_path: Path) -> None:
    """The reference's WSD schedule: peak after the warm-up, then a linear decay to the floor."""
    from goldpan.train.config import TrainConfig
    from goldpan.train.schedules import lr_multiplier

    pairs = [Pair(f"Task {i}:", " Name a river.", " Draw.") for i in range(4)]
    settings = DpoConfig(learning_rate=1e-3, batch_size=1, gradient_accumulation=1,
                         warmup_ratio=0.25, decay_ratio=0.5, min_lr_ratio=0.1)
    result = dpo_update(tiny_lm, pairs, tmp_path / "teacher", settings)
    logged = [entry["learning_rate"] for entry in result["log"] if "learning_rate" in entry]
    schedule = TrainConfig(learning_rate=1e-3, schedule="wsd", warmup_ratio=0.25,
                           decay_ratio=0.5, min_lr_ratio=0.1)
    expected = [1e-3 * lr_multiplier(step, 4, schedule) for step in range(4)]
    assert logged == pytest.approx(expected)


def test_the_loop_writes_datasets_influence_pairs_teacher_and_evaluation(
    tiny_lm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole loop on tiny models, with the teacher's sampling replaced by fixed outputs
    (a random tiny teacher writes nothing that passes Self-Instruct's filters)."""
    import json

    from goldpan.report import build_report
    from goldpan.report.markdown import montessori_evaluation_table
    from goldpan.report.page import Figure, Table
    from goldpan.synth import montessori as module
    from goldpan.synth.montessori import montessori
    from tests.montessori_child import small_config

    monkeypatch.setattr(module, "synthesize", scripted_synthesis)
    # Each phase starts with the previous phase's models released: no model is left in the
    # cache when the student is probed (the fp32 teacher used to stay resident through it).
    resident: list[int] = []
    real_influence = module.measure_influence

    def measured(*args, **kwargs):  # type: ignore[no-untyped-def]
        from goldpan.models.load import load_cached

        resident.append(load_cached.cache_info().currsize)
        return real_influence(*args, **kwargs)

    monkeypatch.setattr(module, "measure_influence", measured)
    config = small_config()
    reference = [InstructionExample(i, r) for i, r in REFERENCE]
    held_out = examples(HELD_OUT_PAIRS)
    summary = montessori(str(tiny_lm), str(tiny_lm), reference, config, tmp_path / "out",
                         held_out=held_out)
    iteration = summary.iterations[0]
    assert resident == [0]
    assert iteration.momentum_influence is not None and iteration.above_momentum is not None
    assert iteration.probes == len(EXAMPLES) * 2 - 3
    assert iteration.positive + iteration.negative <= iteration.probes
    out = tmp_path / "out"
    influence = [json.loads(line) for line in (out / "iteration-0" / "influence.jsonl").open()]
    assert all({"instruction", "prompt", "influence"} <= set(row) for row in influence)
    pairs = [json.loads(line) for line in (out / "iteration-0" / "preferences.jsonl").open()]
    assert len(pairs) == iteration.pairs
    assert all(p["chosen_influence"] > 0 > p["rejected_influence"] for p in pairs)
    if pairs:
        assert (out / "iteration-0" / "teacher" / "config.json").is_file()
    evaluation = summary.evaluation
    assert set(evaluation.students) == {"self_instruct", "montessori"}
    assert evaluation.held_out == 2 and evaluation.note is None
    assert all(s.held_out_loss is not None and s.held_out_loss != s.reference_loss
               for s in evaluation.students.values())
    judged = evaluation.montessori_vs_self_instruct
    assert judged.win_rate is None or 0.0 <= judged.win_rate <= 1.0
    assert len(judged.outcomes) == 2  # held-out instructions
    answers = [json.loads(line) for line in (out / "judged_answers.jsonl").open()]
    assert [a["instruction"] for a in answers] == [h.instruction for h in held_out]
    assert "| Montessori-Instruct |" in montessori_evaluation_table(summary.evaluation)
    report = build_report(out)
    figures = [b for s in report.sections if s.title == "Influence" for b in s.blocks
               if isinstance(b, Figure)]
    assert figures and f"iteration 0 {iteration.probes}" in figures[0].caption
    pairs_table = next(b for s in report.sections if s.title == "Preference pairs"
                       for b in s.blocks if isinstance(b, Table))
    assert pairs_table.rows[0][:2] == [0, iteration.pairs]


def test_the_judge_counts_a_win_only_when_both_orders_agree() -> None:
    from goldpan.llm import make_llm
    from goldpan.synth.win_rate import judge_pairwise
    from tests.test_llm import ok, serve

    def prefers_good(number: int, body: dict) -> object:
        text = body["messages"][0]["content"]
        a = text.split("Response A:")[1].split("Response B:")[0]
        return ok("A" if "good" in a else "B")

    with serve(prefers_good) as (_, url):
        judge = make_llm(f"openai:judge@{url}", None, backoff=0.01)
        judged = judge_pairwise(judge, ["q1", "q2"], ["good one", "bad one"], ["bad", "good"])
    assert judged.model_dump(exclude={"length_controlled_win_rate"}) == {
        "wins": 1, "losses": 1, "ties": 0, "win_rate": 0.5, "outcomes": [1.0, 0.0]}
    assert judged.length_controlled_win_rate is not None
    with serve(lambda n, body: ok("A")) as (_, url):  # always the first: position bias only
        judge = make_llm(f"openai:judge@{url}", None, backoff=0.01)
        judged = judge_pairwise(judge, ["q1", "q2"], ["x", "y"], ["z", "w"])
    # A judge that ties everything says nothing: no win rate, not 0.500.
    assert judged.ties == 2 and not judged.informative
    assert judged.win_rate is None and judged.length_controlled_win_rate is None


@pytest.mark.slow
def test_the_small_profile_runs_end_to_end_with_the_embedded_model(tmp_path: Path) -> None:
    """Teacher and student are the embedded SmolLM2-135M-Instruct; fewer prompts than the
    documented run (docs/montessori.md) to keep the suite short."""
    from goldpan.synth.results import MontessoriSummary
    from tests.conftest import goldpan

    out = tmp_path / "montessori"
    # Every phase, each at its smallest: the suite's 600-second limit per command.
    result = goldpan("synth", "montessori", "--out", str(out), "--prompts", "4",
                     "--set", "final_examples=8", "--set", "judge_examples=4",
                     "--set", "held_out_examples=8", check=True)
    assert "preference pairs" in result.stderr and "| Montessori-Instruct |" in result.stderr
    summary = MontessoriSummary.model_validate_json((out / "summary.json").read_text())
    assert summary.iterations[0].synthetic >= 8
    for name in ("synthetic.jsonl", "influence.jsonl", "preferences.jsonl"):
        assert (out / "iteration-0" / name).is_file()
    assert (out / "iteration-1" / "synthetic.jsonl").is_file()
    if summary.iterations[0].pairs:
        assert (out / "iteration-0" / "teacher" / "model.safetensors").is_file()
    assert set(summary.evaluation.students) == {"self_instruct", "montessori"}
    assert (out / "evaluation.md").is_file()


def test_montessori_prompts_show_generated_instructions_after_the_first_round() -> None:
    """The issue's fault: every prompt held 8 seeds. Rounds of prompts_per_round prompts with
    the pool refreshed in between give 6 seeds + 2 generated once two exist; a sample stopped
    by the length limit never becomes an instruction."""
    import random

    from goldpan.synth.montessori import MontessoriConfig, synthesize
    from goldpan.synth.self_instruct import load_seed_tasks

    seeds = load_seed_tasks()
    teacher = ScriptedTeacher()
    config = MontessoriConfig.build("small", prompts=8, prompts_per_round=4, samples_per_prompt=2)
    stats: dict[str, int] = {}
    records = synthesize(teacher, seeds, config, random.Random(0), stats)  # type: ignore[arg-type]
    assert len(teacher.instruction_prompts) == 8
    assert stats == {"prompts": 8, "prompts_with_generated": 4}
    accepted = [r.instruction for r in records]
    assert len(accepted) == 8  # one per prompt: every second sample was cut by the limit
    assert all(r.output for r in records)
    seed_texts = {s.instruction for s in seeds}
    for number, prompt in enumerate(teacher.instruction_prompts):
        generated = sum(instruction in prompt for instruction in accepted)
        if number < 4:
            assert generated == 0  # the first round has only seeds to show
        else:
            assert generated == 2
            assert sum(seed in prompt for seed in seed_texts) == 6


def test_the_final_data_stops_once_the_evaluation_has_its_examples() -> None:
    """The evaluation trains on final_examples: later rounds and responses would be wasted."""
    import random

    from goldpan.synth.montessori import MontessoriConfig, synthesize
    from goldpan.synth.self_instruct import load_seed_tasks

    teacher = ScriptedTeacher()
    config = MontessoriConfig.build("small", prompts=8, prompts_per_round=2, samples_per_prompt=3)
    records = synthesize(teacher, load_seed_tasks(), config, random.Random(0), enough=3)  # type: ignore[arg-type]
    # Two samples a prompt are kept (the second stops at the limit): 4 a round, one round.
    assert len(teacher.instruction_prompts) == 2
    assert len(records) == 3 and all(r.response for r in records)


def test_the_reference_prompt_format_reads_the_last_instruction_tag() -> None:
    import random

    from goldpan.synth.montessori import MontessoriConfig, synthesize, tagged_instruction
    from goldpan.synth.self_instruct import load_seed_tasks

    assert tagged_instruction("x <instruction>A</instruction> y <instruction> B </instruction>") \
        == "B"
    assert tagged_instruction("no tags") is None
    teacher = ScriptedTeacher()
    config = MontessoriConfig.build("small", prompts=4, prompts_per_round=2, samples_per_prompt=3,
                                    prompt_format="reference")
    records = synthesize(teacher, load_seed_tasks(), config, random.Random(0))  # type: ignore[arg-type]
    prompt = teacher.instruction_prompts[0]
    assert prompt.lstrip().startswith("Generate an instruction.")
    assert prompt.count("<instruction>") == 9  # the format line and 8 examples
    # Per prompt: one tagged instruction kept, one cut by the limit, one without a tag.
    assert len(records) == 4
    assert all(r.instruction.startswith(tuple(w.capitalize() for w in teacher.WORDS))
               and "<instruction>" in (r.output or "") for r in records)


def test_a_probe_without_response_tokens_gets_no_influence(tiny_lm: Path) -> None:
    from goldpan.train import IGNORE, Encoded

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm, dtype=torch.float32)
    trainer = Trainer(model, STUDENT, tokenizer.pad_token_id)
    encode = lambda pairs: [encode_example(tokenizer, i, r, 128) for i, r in pairs]  # noqa: E731
    trainer.fit(encode(EXAMPLES[:3]))
    full_prompt = Encoded(list(range(5, 69)), [IGNORE] * 64)  # the prompt filled max_length
    influences = local_influences(trainer, [full_prompt, *encode(EXAMPLES[3:4])], encode(REFERENCE))
    assert influences[0] is None and influences[1] is not None


def _montessori_child(out: Path, model: Path, marker: Path | None = None):  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "tests.montessori_child", str(out), str(model)]
    environment = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.Popen([*command, *([str(marker)] if marker else [])], cwd=root,
                            env=environment, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _outcome(out: Path) -> dict[str, object]:
    """Everything a run leaves that a resumed run must reproduce (its own folder and clock
    aside)."""
    import json

    summary = json.loads((out / "summary.json").read_text())
    summary.pop("seconds")
    summary["teacher"] = summary["teacher"].replace(str(out), "OUT")
    files = ["iteration-0/synthetic.jsonl", "iteration-0/influence.jsonl",
             "iteration-0/preferences.jsonl", "iteration-1/synthetic.jsonl",
             "judged_answers.jsonl"]
    outcome: dict[str, object] = {name: (out / name).read_text() for name in files}
    teacher = out / "iteration-0" / "teacher" / "model.safetensors"
    outcome["teacher"] = teacher.read_bytes() if teacher.is_file() else None
    outcome["summary"] = summary
    return outcome


def test_a_run_killed_in_the_middle_of_the_probes_resumes_to_the_uninterrupted_result(
    tiny_lm: Path, tmp_path: Path
) -> None:
    """SIGKILL while the student's influence is being measured, then the same command: the
    finished data phase is read back, the influence phase is redone from its start, and every
    file and figure equals a run that was never interrupted."""
    import json
    import signal
    import time

    straight = _montessori_child(tmp_path / "straight", tiny_lm)
    assert straight.wait(timeout=600) == 0, straight.stderr.read()[-3000:]
    marker = tmp_path / "probing"
    killed = _montessori_child(tmp_path / "resumed", tiny_lm, marker)
    deadline = time.monotonic() + 600
    while not marker.exists():
        assert killed.poll() is None, killed.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "the run never reached the probes"
        time.sleep(0.2)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    data = tmp_path / "resumed" / "iteration-0" / "synthetic.jsonl"
    written = data.stat().st_mtime_ns
    phases = json.loads((tmp_path / "resumed" / "phases.json").read_text())["done"]
    assert phases == ["iteration-0 data"]  # killed inside "iteration-0 influence"
    assert not (tmp_path / "resumed" / "iteration-0" / "influence.jsonl").exists()
    resumed = _montessori_child(tmp_path / "resumed", tiny_lm)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()[-3000:]
    assert data.stat().st_mtime_ns == written  # the finished phase was read back, not redone
    assert _outcome(tmp_path / "resumed") == _outcome(tmp_path / "straight")


def test_the_help_does_not_call_goldpans_own_seed_tasks_self_instructs() -> None:
    import re

    from tests.conftest import goldpan

    text = goldpan("synth", "montessori", "--help", check=True).stdout
    shown = " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())  # the help's frame, wrapped
    assert "goldpan's own 175" in shown and "Self-Instruct's 175" not in shown
