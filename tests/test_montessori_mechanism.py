"""The mechanism experiment (issue 32): both teachers get the same prompts, their outputs are
probed from one warmed-up student against a second reference set and paired by prompt, and
the seeds are read together under the decision fixed before the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from goldpan.experiments import montessori_mechanism as experiment
from goldpan.synth.records import InfluencePair
from goldpan.util.intervals import mean_interval
from tests.montessori_child import ScriptedTeacher, scripted_synthesis, small_config


def _every_prompt_a_pair(scored):  # type: ignore[no-untyped-def]
    """Two outputs of each prompt as a pair whatever their influence: the test needs a
    teacher update, not a realistic one."""
    by_prompt: dict[str, list] = {}
    for row in scored:
        by_prompt.setdefault(row.example.prompt, []).append(row)
    return [InfluencePair(prompt, rows[0].example.output, rows[1].example.output, 1.0, -1.0)
            for prompt, rows in by_prompt.items() if len(rows) >= 2]


def test_both_teachers_answer_the_same_prompts_and_are_paired_by_prompt(
    tiny_lm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from goldpan.synth import montessori as module

    monkeypatch.setattr(module, "synthesize", scripted_synthesis)
    monkeypatch.setattr(module, "preference_pairs", _every_prompt_a_pair)
    asked: dict[str, ScriptedTeacher] = {}

    def teacher(spec: str, cache: object = None, **options: object) -> ScriptedTeacher:
        asked[spec] = ScriptedTeacher()  # the same script: the same outputs from both
        return asked[spec]

    monkeypatch.setattr(experiment, "make_llm", teacher)
    config = small_config().model_copy(update={"reference_examples": 4,
                                               "influence_estimate": "first_order"})
    result = experiment.run_mechanism_seed(str(tiny_lm), str(tiny_lm), config, tmp_path, 5, 4)
    updated = tmp_path / "run" / "iteration-0" / "teacher"
    assert list(asked) == [str(tiny_lm), str(updated)]
    original, new = asked.values()
    assert original.instruction_prompts == new.instruction_prompts
    assert len(original.instruction_prompts) == 5
    assert result.dpo_pairs > 0 and result.paired_prompts == 5
    assert result.instructions["original"] == result.instructions["updated"]
    # Identical outputs measured from one warmed-up state have identical influence.
    assert result.original == pytest.approx(result.updated)
    assert result.mean_difference == pytest.approx(0.0, abs=1e-12)
    saved = json.loads((tmp_path / "mechanism.json").read_text())
    assert saved["paired_prompts"] == 5 and saved["probe_reference_examples"] == 4
    asked.clear()  # a rerun with the same settings reads the result back, asking no teacher
    again = experiment.run_mechanism_seed(str(tiny_lm), str(tiny_lm), config, tmp_path, 5, 4)
    assert again == result and not asked


def _seed(folder: Path, seed: int, original: list, updated: list) -> Path:
    folder.mkdir(parents=True)
    differences = [u - o for u, o in zip(updated, original, strict=True)
                   if u is not None and o is not None]
    result = experiment.MechanismSeed(
        seed=seed, teacher="t", student="s", reference_examples=256,
        probe_reference_examples=32, original=original, updated=updated,
        paired_prompts=len(differences), mean_difference=sum(differences) / len(differences))
    (folder / "mechanism.json").write_text(result.model_dump_json())
    return folder


def test_the_decision_is_the_t_interval_over_seeds(tmp_path: Path) -> None:
    higher = [_seed(tmp_path / f"up-{s}", s, [0.0, 0.1, None], [0.1 + s / 100, 0.2, 0.5])
              for s in range(3)]
    comparison = experiment.compare_mechanism(higher)
    expected = mean_interval([0.1, 0.105, 0.11])  # per seed: the mean over its prompts
    over_seeds = comparison.difference_over_seeds
    assert (over_seeds.mean, over_seeds.low, over_seeds.high, over_seeds.n) == pytest.approx(
        (expected.mean, expected.low, expected.high, 3))
    assert comparison.verdict.startswith("shown")
    assert comparison.difference_over_prompts.n == 6  # prompts both teachers answered
    mixed = [_seed(tmp_path / f"mixed-{s}", s, [0.0, 0.0], [d, d]) for s, d in
             enumerate([0.1, -0.1, 0.02])]
    assert experiment.compare_mechanism(mixed).verdict.startswith("not shown")
    table = experiment.mechanism_table(comparison, [experiment.read_seed(f) for f in higher])
    assert "| 0 |" in table and "Verdict: shown" in table


def test_the_accumulation_check_trains_on_three_quarters_of_the_prompts(
    tiny_lm: Path, tmp_path: Path
) -> None:
    """D1: DPO from the original teacher with accumulation 1 and 8 on the same pairs; the
    held-out pairs come from prompts it never trains on."""
    from goldpan.data.json_lines import write_json_lines
    from goldpan.synth.config import MontessoriConfig

    pairs = [InfluencePair(f"Task {p}:", f" Name river {k}.", " Draw.", 0.1, -0.1)
             for p in range(4) for k in range(2)]
    (tmp_path / "run" / "iteration-0").mkdir(parents=True)
    write_json_lines(tmp_path / "run" / "iteration-0" / "preferences.jsonl",
                     [pair.to_json() for pair in pairs])
    config = MontessoriConfig.small(dpo={"learning_rate": 1e-3, "max_length": 32})
    check = experiment.accumulation_check(tmp_path / "run", str(tiny_lm), config, tmp_path)
    assert (check.train_pairs, check.held_out_pairs) == (6, 2)
    assert set(check.margin_change) == set(check.train_margin_change) == {"1", "8"}
    # Three steps of 2 pairs against one step: the trained pairs move further with 1.
    assert check.train_margin_change["1"] > check.train_margin_change["8"]
    assert (tmp_path / "accumulation.json").is_file()
