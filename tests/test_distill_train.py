"""CoT KD, the negative LoRA, NAT and NCE train on a tiny random student."""

from __future__ import annotations

from pathlib import Path

import torch

from goldpan.distill.records import Problem, Rationale
from goldpan.distill.results import BetaSummary
from goldpan.distill.train import (
    StudentTraining,
    lora_weights,
    train_lora,
    train_nat,
    train_nce,
)
from goldpan.train import TrainConfig

POSITIVE = [
    Rationale("a", "What is 2 + 3?", "5", "2 + 3 = 5. The answer is 5."),
    Rationale("b", "What is 4 + 4?", "8", "4 + 4 = 8. The answer is 8."),
    Rationale("c", "What is 9 - 3?", "6", "9 - 3 = 6. The answer is 6."),
]
NEGATIVE = [
    Rationale("a", "What is 2 + 3?", "5", "2 + 3 = 6. The answer is 6."),
    Rationale("b", "What is 4 + 4?", "8", "4 + 4 = 9. The answer is 9."),
]
SETTINGS = StudentTraining(
    train=TrainConfig(max_length=64, batch_size=2, epochs=2, learning_rate=1e-2)
)


def test_cot_kd_negative_nat_and_nce_train_end_to_end(tiny_lm: Path) -> None:
    steps: list = []
    kd, _ = train_lora(str(tiny_lm), POSITIVE, SETTINGS, steps.append)
    assert [log.step for log in steps] == [1, 2, 3, 4]  # 2 epochs x 2 batches
    assert all(log.total_steps == 4 and log.loss > 0 for log in steps)
    assert any(
        not torch.equal(m.lora_B["default"].weight, torch.zeros_like(m.lora_B["default"].weight))
        for _, m in kd.named_modules()
        if hasattr(m, "lora_B") and "default" in getattr(m, "lora_B", {})
    )
    negative_model, _ = train_lora(str(tiny_lm), NEGATIVE, SETTINGS)
    negative = lora_weights(negative_model, SETTINGS.lora.targets)
    assert len(negative) == 2 * negative_model.config.num_hidden_layers
    nat, layers, _ = train_nat(str(tiny_lm), POSITIVE, negative, SETTINGS)
    for layer, (a, b) in zip(layers, negative, strict=True):
        assert torch.equal(layer.negative.A, a) and torch.equal(layer.negative.B, b)
    assert any(layer.c2.weight.abs().sum() > 0 for layer in layers)  # the unit learned
    betas: list[float] = []
    nce, _ = train_nce(str(tiny_lm), POSITIVE, nat, layers, SETTINGS, betas=betas)
    assert all(layer.mode == "nat" for layer in layers)  # p_NAT restored after reading p_neg
    # beta logged once per trained sample per epoch, each tanh of a KL: in [0, 1).
    assert len(betas) == 2 * len(POSITIVE) and all(0 <= b < 1 for b in betas)
    summary = BetaSummary.of(betas)
    assert summary is not None and summary.samples == 6 and sum(summary.histogram) == 6
    assert summary.minimum <= summary.mean <= summary.maximum
    trained = [
        m.lora_B["default"].weight for _, m in nce.named_modules() if hasattr(m, "lora_B")
        and "default" in getattr(m, "lora_B", {})
    ]  # fmt: skip
    assert trained and any(w.abs().sum() > 0 for w in trained)


def test_the_distill_pipeline_writes_data_adapters_ranker_and_table(
    tiny_lm: Path, tmp_path: Path, monkeypatch
) -> None:
    """The whole experiment on a tiny student, with fixed problems and a scripted HTTP teacher
    that is right on even samples and wrong on odd ones."""
    import json

    from goldpan.distill import pipeline
    from goldpan.distill.pipeline import DistillConfig, run_distillation
    from goldpan.report import build_report
    from goldpan.report.markdown import distill_results_table
    from goldpan.report.page import Table
    from tests.test_llm import ok, serve

    problems = {
        1: [Problem("a", "What is 2 + 3?", "5"), Problem("b", "What is 4 + 4?", "8")],
        2: [Problem("c", "What is 1 + 6?", "7")],
    }
    monkeypatch.setattr(pipeline, "reasoning_gym_problems", lambda task, n, seed: problems[seed])

    def teacher(number: int, body: dict) -> object:
        question = body["messages"][0]["content"]
        gold = {"2 + 3": "5", "4 + 4": "8"}.get(question.split("What is ")[-1].rstrip("?"), "0")
        return ok(f"The answer is {gold}." if body["seed"] % 2 == 0 else "The answer is 42.")

    config = DistillConfig.small(tasks=["basic_arithmetic"], max_new_tokens=8, asc_samples=2)
    with serve(teacher) as (_, url):
        results = run_distillation(config, tmp_path / "run", str(tiny_lm), f"openai:t@{url}")
    assert results.data.model_dump() == {
        "questions": 2,
        "positive": 4,
        "negative": 4,
        "questions_with_both": 2,
    }
    # Every method and baseline but fine-tuning on gold solutions (these problems have none).
    assert set(results.accuracy) == {
        "teacher", "base", "cot_kd", "negative", "mix", "nt", "ul", "cl", "nat", "kd", "nce"
    }
    assert results.solved_overlap is not None and 0.0 <= results.solved_overlap <= 1.0
    assert results.nce_beta is not None and results.nce_beta.samples > 0
    assert set(results.self_consistency) >= {"plain", "1+2s", "1+s", "s"}
    for name, credits in results.self_consistency_credit.items():  # per problem, in test order
        assert len(credits) == 1 and results.self_consistency[name] == credits[0]
    run = tmp_path / "run"
    written = ["data/d_pos.jsonl", "data/d_neg.jsonl", "adapters/cot_kd", "adapters/negative"]
    written += ["adapters/nat/nat.pt", "adapters/nce", "ranker/ranker.pt"]
    for path in written:
        assert (run / path).exists(), path
    assert "| NAT + ASC (1 + 2s) |" in distill_results_table(results)  # results.md, by the CLI
    assert json.loads((run / "results.json").read_text())["accuracy"] == results.accuracy
    report = build_report(run)
    assert ("D_pos rationales", "4") in report.facts and ("D_neg rationales", "4") in report.facts
    accuracy = next(b for s in report.sections if s.title == "Accuracy" for b in s.blocks
                    if isinstance(b, Table))
    assert len(accuracy.rows) == len(results.accuracy)


def test_a_rerun_skips_the_stages_already_finished(
    tiny_lm: Path, tmp_path: Path, monkeypatch
) -> None:
    """Stopped after the negative LoRA, then rerun: CoT KD and the negative model are not
    trained again (NAT starts from the saved negative LoRA); a third run trains nothing."""

    from goldpan.distill import pipeline
    from goldpan.distill.pipeline import DistillConfig, run_distillation
    from tests.distill_files import rationale_files

    rationales, test = rationale_files(tmp_path)
    config = DistillConfig.small(
        rationales_file=str(rationales), test_file=str(test), max_new_tokens=8, asc_samples=2,
        baselines=["negative", "mix"],
    )
    trained: list[str] = []
    real_lora, real_nat, real_nce = pipeline.train_lora, pipeline.train_nat, pipeline.train_nce

    def counting(name: str, real):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            trained.append(name)
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(pipeline, "train_lora", counting("lora", real_lora))
    monkeypatch.setattr(pipeline, "train_nat", counting("nat", real_nat))
    monkeypatch.setattr(pipeline, "train_nce", counting("nce", real_nce))
    run = tmp_path / "run"
    first = run_distillation(config, run, str(tiny_lm), until="negative")
    assert trained == ["lora", "lora"] and set(first.accuracy) == {"base", "cot_kd", "negative"}
    trained.clear()
    second = run_distillation(config, run, str(tiny_lm))
    assert trained == ["nat", "nce", "lora"]  # NAT, NCE, then the MIX baseline
    assert second.accuracy["cot_kd"] == first.accuracy["cot_kd"]
    assert {"nat", "nce", "mix"} <= set(second.accuracy) and second.self_consistency
    trained.clear()
    third = run_distillation(config, run, str(tiny_lm))
    assert trained == [] and third.accuracy == second.accuracy
    changed = config.model_copy(update={"max_new_tokens": 9})
    run_distillation(changed, run, str(tiny_lm), until="cot_kd")
    assert trained == ["lora"]  # other settings: the finished stages do not count


def test_a_negative_rationale_never_learns_away_from_its_question(tiny_lm: Path) -> None:
    """With the reference's train_on_inputs the question is learned with D_pos and D_neg alike,
    but a rationale that NT or UL pushes down keeps its question out of the loss."""
    from transformers import AutoTokenizer

    from goldpan.distill.train import rationale_examples
    from goldpan.train.examples import IGNORE

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    marked = [NEGATIVE[0].marked_negative()]
    learned, pushed_down = (
        rationale_examples(tokenizer, rows, 64, loss_on_prompt=True)[0]
        for rows in (NEGATIVE[:1], marked)
    )
    assert IGNORE not in learned.labels and not learned.negative
    assert pushed_down.negative and pushed_down.labels[0] == IGNORE
    assert pushed_down.learned_tokens < learned.learned_tokens


def test_nce_stays_finite_when_a_micro_batch_has_nothing_to_learn(tiny_lm: Path) -> None:
    """With accumulation > 1 and the prompt not learned, a question that fills max_length
    leaves its micro-batch without learned tokens: its mean cross-entropy is NaN, and NaN x 0
    tokens is still NaN, which used to poison the whole step (issue 33, point 5)."""
    settings = StudentTraining(train=TrainConfig(
        max_length=64, batch_size=1, gradient_accumulation=2, epochs=1, learning_rate=1e-2,
        loss_on_prompt=False))
    negative_model, _ = train_lora(str(tiny_lm), NEGATIVE, SETTINGS)
    nat, layers, _ = train_nat(str(tiny_lm), POSITIVE, lora_weights(
        negative_model, SETTINGS.lora.targets), SETTINGS)
    crowded = Rationale("long", "What is " + "one plus " * 60 + "one?", "61", "The answer is 61.")
    losses: list = []
    nce, _ = train_nce(str(tiny_lm), [crowded, POSITIVE[0]], nat, layers, settings,
                       losses.append)
    assert losses and all(torch.isfinite(torch.tensor(log.loss)) for log in losses)
    assert all(torch.isfinite(p).all() for p in nce.parameters())


def test_nats_correct_samples_are_counted_before_deduplication() -> None:
    from goldpan.distill.pipeline import correct_samples, self_augmentation

    train = [Problem("a", "What is 2 + 3?", "5"), Problem("b", "What is 4 + 4?", "8")]
    samples = [["The answer is 5.", "The answer is 5.", "The answer is 6."],
               ["4 + 4 = 8. The answer is 8.", "The answer is 8."]]
    assert correct_samples(train, samples) == 4  # the repeated one twice
    known = [Rationale("b", "What is 4 + 4?", "8", "4 + 4 = 8. The answer is 8.")]
    assert len(self_augmentation(train, samples, known)) == 2  # distinct and new only
