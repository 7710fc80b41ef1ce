"""TDG's data lengths (issue 33, point 1): pairs of 1,600 characters or more are left out (1,200
for NCE's data) and counted, and each phase trains with a context that holds its longest kept
pair, so no rationale loses its final \\boxed{} answer to truncation."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoTokenizer

from goldpan.distill.config import DistillConfig
from goldpan.distill.pipeline import DistillRun, _training
from goldpan.distill.records import Rationale
from goldpan.distill.results import DistillResults, RationaleCounts
from goldpan.distill.train import rationale_examples

STEP = "Then we add the carried digit to the next column and write the partial sum down. "


def _rationale(steps: int, number: int) -> Rationale:
    text = STEP * steps + "So the total is $\\boxed{42}$."
    return Rationale(f"q{number}", "What is the total of the long column of numbers?", "42", text)


def _run(config: DistillConfig, student: Path, tmp_path: Path) -> DistillRun:
    return DistillRun(config, tmp_path, str(student), None, lambda *a, **k: None, 0.0, [],
                      results=DistillResults(data=RationaleCounts(
                          questions=0, positive=0, negative=0, questions_with_both=0)))


def _answers_kept(tokenizer, rows, max_length: int, loss_on_prompt: bool) -> list[bool]:  # type: ignore[no-untyped-def]
    """Per row, whether its training example is the whole pair, end token included: nothing
    of the rationale, its final answer least of all, was cut."""
    whole = rationale_examples(tokenizer, rows, 2**31, loss_on_prompt)
    cut = rationale_examples(tokenizer, rows, max_length, loss_on_prompt)
    return [c.input_ids == w.input_ids and c.input_ids[-1] == tokenizer.eos_token_id
            for c, w in zip(cut, whole, strict=True)]


def test_no_training_example_loses_its_final_answer_to_truncation(
    tiny_lm: Path, tmp_path: Path
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    rows = [_rationale(steps, n) for n, steps in enumerate((4, 12, 16, 19))]
    lengths = [len(r.question) + 1 + len(r.rationale) for r in rows]
    assert lengths[-1] >= 1600 > lengths[-2] >= 1200 > lengths[0]
    config = DistillConfig()  # the paper profile
    run = _run(config, tiny_lm, tmp_path)
    kept, settings = _training(run, "nat", rows, config.max_pair_characters)
    assert kept == rows[:3] and run.results.dropped_for_length == {"nat": 1}
    assert settings.train.max_length > config.student.train.max_length  # 256 would cut them
    assert run.results.context["nat"] == settings.train.max_length
    assert all(_answers_kept(tokenizer, kept, settings.train.max_length,
                             settings.train.loss_on_prompt))
    nce_rows, _ = _training(run, "nce", rows, config.nce_max_pair_characters)
    short = [row for row, length in zip(rows, lengths, strict=True) if length < 1200]
    assert nce_rows == short and run.results.dropped_for_length["nce"] == len(rows) - len(short)
    assert 0 < len(short) < 3
    # A fixed 256-token context (the small profile's way) does cut them: the test can fail.
    fixed = DistillConfig.small()
    _, cut = _training(_run(fixed, tiny_lm, tmp_path), "nat", rows, None)
    assert cut.train.max_length == 256
    assert not all(_answers_kept(tokenizer, kept, 256, cut.train.loss_on_prompt))


def test_nce_trains_on_its_own_schedule(tiny_lm: Path, tmp_path: Path) -> None:
    """TDG's NCE runs 8 pairs a step with 1,000 warm-up steps (distill_NCE.py), not NAT's 128
    and 200; the NCE phase takes its own TrainConfig, whatever the other phases use."""
    from goldpan.train import TrainConfig

    config = DistillConfig()
    assert (config.nce_train.batch_size * config.nce_train.gradient_accumulation,
            config.nce_train.warmup_steps) == (8, 1000)
    assert (config.student.train.batch_size * config.student.train.gradient_accumulation,
            config.student.train.warmup_steps) == (128, 200)
    own = TrainConfig(batch_size=1, gradient_accumulation=3, epochs=1, max_length=300)
    small = DistillConfig.small(nce_train=own.model_dump())
    run = _run(small, tiny_lm, tmp_path)
    rows = [_rationale(4, n) for n in range(3)]
    _, settings = _training(run, "nce", rows, small.nce_max_pair_characters, small.nce_train)
    assert settings.train == small.nce_train and settings.lora == small.student.lora
    _, other = _training(run, "nat", rows, small.max_pair_characters)
    assert other.train == small.student.train


def test_nt_learns_the_gold_solutions_too_as_tdgs_nt_data_has_them(
    tiny_lm: Path, tmp_path: Path
) -> None:
    from goldpan.distill.pipeline import _baseline_rows
    from goldpan.distill.rationales import Collected
    from goldpan.distill.records import Problem

    run = _run(DistillConfig.small(), tiny_lm, tmp_path)
    run.train = [Problem("q1", "What is 6 x 7?", "42", "6 x 7 = $\\boxed{42}$."),
                 Problem("q2", "What is 1 + 1?", "2")]  # no worked solution: nothing to add
    right = Rationale("q1", "What is 6 x 7?", "42", "It is $\\boxed{42}$.")
    wrong = Rationale("q1", "What is 6 x 7?", "42", "It is $\\boxed{48}$.")
    run.collected = Collected([right], [wrong], [])
    rows, _ = _baseline_rows(run, "nt")
    assert [(r.rationale, r.negative, r.source) for r in rows] == [
        ("6 x 7 = $\\boxed{42}$.", False, "gold"), (right.rationale, False, None),
        (wrong.rationale, True, None)]
    ul_rows, _ = _baseline_rows(run, "ul")
    assert all(r.source != "gold" for r in ul_rows)
