"""Training the forward and reverse scorers from scratch: curves, checkpoints, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from goldpan.errors import GoldpanError
from goldpan.score.lm import LmScore, start_id
from goldpan.score.reverse import ReverseScore
from goldpan.score.scorer_training import ScorerConfig, chunks, train_scorers, train_tokenizer
from tests.conftest import goldpan, write_recipe
from tests.realtext import batch, news_articles

TINY = dict(
    vocab_size=400,
    hidden_size=32,
    intermediate_size=64,
    layers=2,
    heads=2,
    max_length=64,
    batch_size=8,
    steps=20,
    warmup_steps=4,
    sample_docs=200,
    held_out_docs=20,
    eval_every=5,
    save_every=5,
)


def test_chunks_lead_with_bos_and_reverse_the_whole_document() -> None:
    assert chunks([[1, 2, 3, 4, 5]], start=0, max_length=3, reverse=False) == [
        [0, 1, 2],
        [0, 3, 4],
        [0, 5],
    ]
    assert chunks([[1, 2, 3, 4, 5]], start=0, max_length=3, reverse=True) == [
        [0, 5, 4],
        [0, 3, 2],
        [0, 1],
    ]


def test_both_scorers_train_learn_and_score_with_lm_score(tmp_path: Path) -> None:
    report = train_scorers(news_articles(), tmp_path, ScorerConfig(**TINY))
    for direction in ("forward", "reverse"):
        curve = report["curves"][direction]
        assert [point["step"] for point in curve] == [5, 10, 15, 20]
        assert curve[-1]["held_out_loss"] < curve[0]["held_out_loss"]
        assert (tmp_path / direction / "config.json").is_file()
    assert (tmp_path / "curves.json").is_file()
    texts = news_articles()[:3]
    table = batch(texts)
    for direction in ("forward", "reverse"):
        step = LmScore(
            LmScore.Options(
                model=str(tmp_path / direction), direction=direction, max_length=64, stride=32
            )
        )
        table = step.process(table).drop_columns(["reject_reason"])
    scored = ReverseScore().process(table)
    assert all(s is not None for s in scored.column("s_score").to_pylist())
    _steps_yaml_scores_the_same(tmp_path, texts, start_token="bos")


def _steps_yaml_scores_the_same(folder: Path, texts: list[str], start_token: str) -> None:
    """OUT/steps.yaml holds recipe steps that score with exactly the trained scorers: the same
    S as lm_score run by hand on each direction's model at the training context."""
    import yaml

    from goldpan.engine.config import StepConfig
    from goldpan.engine.registry import build_step

    steps = yaml.safe_load((folder / "steps.yaml").read_text())
    assert [s["name"] for s in steps] == ["lm_score", "lm_score", "reverse_score"]

    def run(specs: list[dict]):  # type: ignore[no-untyped-def]
        table = batch(texts)
        for spec in specs:
            table = build_step(StepConfig.model_validate(spec)).process(table)
            table = table.drop_columns([c for c in table.column_names if c == "reject_reason"])
        return table.column("s_score").to_pylist()

    length = TINY["max_length"]
    by_hand = [
        {"name": "lm_score", "direction": d, "max_length": length, "stride": length // 2,
         "start_token": start_token,
         "model": str(folder / ("joint" if start_token == "direction" else d))}
        for d in ("forward", "reverse")
    ]
    assert run(steps) == pytest.approx(run([*by_hand, {"name": "reverse_score"}]))


def test_a_joint_scorer_learns_both_directions_each_led_by_its_direction_token(
    tmp_path: Path,
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report = train_scorers(news_articles(), tmp_path, ScorerConfig(**{**TINY, "joint": True}))
    assert set(report["curves"]) == {"forward", "reverse"}
    for curve in report["curves"].values():
        # Twice the optimiser steps in all, the same per-direction budget as separate scorers.
        assert [point["step"] for point in curve] == [5, 10, 15, 20]
        assert curve[-1]["tokens"] == 20 * TINY["batch_size"] * TINY["max_length"]
        assert curve[-1]["held_out_loss"] < curve[0]["held_out_loss"]
    folder = tmp_path / "joint"
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    text = " ".join(news_articles()[0].split()[:20])
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    for direction, token, ordered in (("forward", "<fwd>", ids), ("reverse", "<rev>", ids[::-1])):
        sequence = torch.tensor([[tokenizer.convert_tokens_to_ids(token), *ordered]])
        with torch.no_grad():
            expected = float(model(input_ids=sequence, labels=sequence).loss)
        step = LmScore(
            LmScore.Options(
                model=str(folder), direction=direction, start_token="direction", max_length=256,
                dtype="float32",  # compared with the model in float32 above
            )
        )
        prefix = "fwd" if direction == "forward" else "rev"
        scored = step.process(batch([text])).column(f"{prefix}_loss").to_pylist()[0]
        assert scored == pytest.approx(expected, abs=1e-4)
    _steps_yaml_scores_the_same(tmp_path, news_articles()[:3], start_token="direction")


@pytest.mark.parametrize("joint", [False, True])
def test_a_records_s_does_not_depend_on_its_batch_mates(tmp_path: Path, joint: bool) -> None:
    """Separate and joint scorers, through the steps train-scorers wrote: a record scored alone
    gets the S it gets among batch-mates of other lengths, packed several to a forward pass and
    windowed when long."""
    import yaml

    from goldpan.engine.config import StepConfig
    from goldpan.engine.registry import build_step

    train_scorers(news_articles(), tmp_path, ScorerConfig(**{**TINY, "joint": joint,
                                                               "steps": 5}))
    specs = yaml.safe_load((tmp_path / "steps.yaml").read_text())

    def s_scores(texts: list[str]) -> list[float]:
        table = batch(texts)
        for spec in specs:
            if spec["name"] == "lm_score":
                spec = {**spec, "batch_tokens": 256}  # several windows a pass, some split
            table = build_step(StepConfig.model_validate(spec)).process(table)
            table = table.drop_columns([c for c in table.column_names if c == "reject_reason"])
        return table.column("s_score").to_pylist()

    texts = [a[: 80 + 150 * i] for i, a in enumerate(news_articles()[:6])]
    together = s_scores(texts)
    alone = [s_scores([t])[0] for t in texts]
    assert together == pytest.approx(alone, abs=1e-5)
    assert together == pytest.approx(s_scores(texts[::-1])[::-1], abs=1e-5)


def test_direction_start_token_needs_a_tokenizer_that_has_it(tmp_path: Path) -> None:
    tokenizer = train_tokenizer(news_articles()[:50], 300, tmp_path)
    with pytest.raises(GoldpanError, match="train-scorers --joint"):
        start_id(tokenizer, "direction", "reverse")


class _StopAt:
    """A progress stand-in that interrupts training once a given step is reached."""

    def __init__(self, stop: int) -> None:
        self.stop = stop

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def update(self, task: int, completed: int, **figures: str) -> None:
        if completed == self.stop:
            raise KeyboardInterrupt


def test_an_interrupted_training_resumes_to_the_same_weights(tmp_path: Path) -> None:
    config = ScorerConfig(**{**TINY, "directions": ["reverse"]})
    train_scorers(news_articles(), tmp_path / "straight", config)
    with pytest.raises(KeyboardInterrupt):
        train_scorers(news_articles(), tmp_path / "resumed", config, progress=_StopAt(10))
    assert not (tmp_path / "resumed" / "reverse" / "config.json").exists()
    train_scorers(news_articles(), tmp_path / "resumed", config)
    straight = load_file(tmp_path / "straight" / "reverse" / "model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "reverse" / "model.safetensors")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_train_scorers_command_line(tmp_path: Path, corpus: Path) -> None:
    result = goldpan(
        "train-scorers",
        "--data",
        str(corpus),
        "--out",
        str(tmp_path / "scorers"),
        "--steps",
        "10",
        "--sample-docs",
        "100",
        "--hidden-size",
        "32",
        "--layers",
        "1",
        check=True,
    )
    assert "held-out loss" in result.stderr
    recipe = write_recipe(
        tmp_path / "score.yaml",
        input={"paths": [str(corpus)], "id_field": "id"},
        output={"dir": str(tmp_path / "run")},
        workers=1,
        steps=[
            {"name": "length_filter", "min_words": 20, "max_chars": 3000},
            {
                "name": "lm_score",
                "model": str(tmp_path / "scorers" / "forward"),
                "max_length": 128,
                "stride": 64,
            },
            {
                "name": "lm_score",
                "model": str(tmp_path / "scorers" / "reverse"),
                "direction": "reverse",
                "max_length": 128,
                "stride": 64,
            },
            {"name": "reverse_score"},
            {"name": "select", "by": "s_score", "fraction": 0.5},
        ],
    )
    goldpan("run", str(recipe), "-q", check=True)
    assert goldpan("verify", str(tmp_path / "run")).returncode == 0
    # The report plots both losses and S per source, and counts the scorer's tokens.
    from goldpan.report import build_report
    from goldpan.report.page import Note, Table

    report = build_report(tmp_path / "run")
    scores = next(s for s in report.sections if s.title == "Scores by source")
    table = next(b for b in scores.blocks if isinstance(b, Table))
    assert {row[0] for row in table.rows} == {"fwd_loss", "rev_loss", "s_score"}
    assert all(row[-1] is not None for row in table.rows if row[0] == "s_score")
    tokens = next(s for s in report.sections if s.title == "Tokens")
    assert any(isinstance(b, Note) and "n_tokens" in b.text and "scorer" in b.text
               for b in tokens.blocks)


def test_train_scorers_trains_on_the_chosen_sources_at_the_chosen_context(
    tmp_path: Path, corpus: Path
) -> None:
    import json

    import yaml

    common = ["--data", str(corpus), "--steps", "2", "--hidden-size", "16", "--layers", "1",
              "--set", "vocab_size=300", "--set", "held_out_docs=10"]
    goldpan("train-scorers", *common, "--out", str(tmp_path / "prose"), "--source", "news",
            "--source", "wikipedia_en", "--max-length", "32", check=True)
    report = json.loads((tmp_path / "prose" / "curves.json").read_text())
    assert report["train_docs"] + report["held_out_docs"] == 400  # 300 Wikipedia + 100 news
    assert report["config"]["max_length"] == 32
    steps = yaml.safe_load((tmp_path / "prose" / "steps.yaml").read_text())
    assert {s.get("max_length") for s in steps if s["name"] == "lm_score"} == {32}
    missing = goldpan("train-scorers", *common, "--out", str(tmp_path / "none"),
                      "--source", "poetry")
    assert missing.returncode == 2 and "no document has a source in ['poetry']" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_reverse_modeling_experiment_runs_end_to_end(tmp_path: Path) -> None:
    import orjson

    from goldpan.data.demo_corpus import markov, wikipedia
    from goldpan.experiments.reverse_modeling import run_experiment

    rows = [
        {"id": f"w{i}", "text": d["text"], "source": "wikipedia_en"}
        for i, d in enumerate(list(wikipedia("en"))[:300])
    ]
    rows += [
        {"id": f"m{i}", "text": d["text"], "source": "markov"}
        for i, d in enumerate(list(markov())[:150])
    ]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    config = ScorerConfig(**{**TINY, "steps": 10})
    report = run_experiment(tmp_path / "out", corpus, config, held_out=40, pool_docs=300)
    assert report["pool_docs"] == 300 and report["clean_docs"] == 40
    assert set(report["s_by_source"]["by_source"]) == {"wikipedia_en", "markov"}
    assert set(report["lms"]) == {"top", "random", "bottom", "perplexity"}
    assert all(lm["clean_held_out_loss"] > 0 for lm in report["lms"].values())
    assert all(len(lm["clean_document_losses"]) == 40 for lm in report["lms"].values())
    assert all(sum(lm["sources"].values()) == lm["docs"]
               and set(lm["sources"]) <= {"wikipedia_en", "markov"}
               for lm in report["lms"].values())
    assert (tmp_path / "out" / "experiment.json").is_file()

    # Within one source, another seed: the same clean documents, so the runs pair up.
    second = run_experiment(tmp_path / "seed-1", corpus, config.model_copy(update={"seed": 1}),
                            held_out=40, pool_docs=300, sources=["wikipedia_en"],
                            selections=["top", "random"])
    assert second["pool_docs"] == 260 and set(second["s_by_source"]["by_source"]) == {
        "wikipedia_en"}
    from goldpan.experiments.selection_compare import compare, comparison_table

    comparison = compare([tmp_path / "out", tmp_path / "seed-1"])
    assert list(comparison.losses) == ["top", "random"]
    (contrast,) = comparison.contrasts
    assert (contrast.first, contrast.second) == ("top", "random")
    assert contrast.over_runs.n == 2 and contrast.over_documents.n == 80
    expected = [report["lms"]["top"]["clean_held_out_loss"]
                - report["lms"]["random"]["clean_held_out_loss"],
                second["lms"]["top"]["clean_held_out_loss"]
                - second["lms"]["random"]["clean_held_out_loss"]]
    assert contrast.per_run == pytest.approx(expected)
    assert "top - random" in comparison_table(comparison)


def test_training_on_other_data_does_not_resume_stale_state(tmp_path: Path) -> None:
    config = ScorerConfig(**{**TINY, "steps": 5, "directions": ["forward"]})
    first = train_scorers(news_articles()[:150], tmp_path, config)["curves"]["forward"]
    key = json.loads((tmp_path / "phases.json").read_text())["key"]
    second = train_scorers(news_articles()[150:], tmp_path, config)["curves"]["forward"]
    assert json.loads((tmp_path / "phases.json").read_text())["key"] != key
    assert [p["step"] for p in second] == [5]
    assert second != first  # trained anew on the new data, not the old state replayed


@pytest.mark.parametrize("lora", [False, True])
def test_pretrained_scorers_start_from_the_same_weights_and_then_diverge(
    tmp_path: Path, tiny_lm: Path, lora: bool
) -> None:
    """Both directions continue from the same pretrained weights (a rate of ~0 leaves them
    there); trained, they differ, and each saves a plain model lm_score reads."""
    from transformers import AutoModelForCausalLM

    pretrained = AutoModelForCausalLM.from_pretrained(tiny_lm).state_dict()
    base = {**TINY, "init_from": str(tiny_lm), "lora": lora, "steps": 2, "eval_every": 1}
    still = train_scorers(news_articles(), tmp_path / "still",
                          ScorerConfig(**{**base, "learning_rate": 1e-12}))
    assert set(still["curves"]) == {"forward", "reverse"}
    for direction in ("forward", "reverse"):
        saved = AutoModelForCausalLM.from_pretrained(tmp_path / "still" / direction).state_dict()
        for name, tensor in pretrained.items():
            torch.testing.assert_close(saved[name], tensor, atol=1e-6, rtol=0)
    train_scorers(news_articles(), tmp_path / "moved", ScorerConfig(**{**base,
                                                                     "learning_rate": 1e-2}))
    forward, reverse = (AutoModelForCausalLM.from_pretrained(tmp_path / "moved" / d).state_dict()
                        for d in ("forward", "reverse"))
    assert any(not torch.equal(forward[k], reverse[k]) for k in forward)
    step = LmScore(LmScore.Options(model=str(tmp_path / "moved" / "reverse"),
                                   direction="reverse", max_length=64))
    assert step.process(batch(news_articles()[:2])).column("rev_loss").null_count == 0


def test_members_train_one_pair_per_seed_and_score_s_as_their_mean(tmp_path: Path) -> None:
    """--set members=2: two scorer pairs (seeds 0 and 1), and steps.yaml scores S as the mean
    of the pairs' S, each pair's columns side by side."""
    import yaml

    from goldpan.engine.config import StepConfig
    from goldpan.engine.registry import build_step

    config = ScorerConfig(**{**TINY, "steps": 5, "members": 2})
    report = train_scorers(news_articles(), tmp_path, config)
    assert set(report["curves"]) == {f"{d} (member {m})" for d in ("forward", "reverse")
                                     for m in (0, 1)}
    first = load_file(str(tmp_path / "member-0" / "forward" / "model.safetensors"))
    second = load_file(str(tmp_path / "member-1" / "forward" / "model.safetensors"))
    assert any(not torch.equal(first[k], second[k]) for k in first)  # other seed, other model
    steps = yaml.safe_load((tmp_path / "steps.yaml").read_text())
    assert [s.get("suffix", "") for s in steps[:4]] == ["", "", "_1", "_1"]
    assert steps[-1] == {"name": "reverse_score", "members": ["", "_1"]}
    table = batch(news_articles()[:3])
    for spec in steps[:4]:
        table = build_step(StepConfig.model_validate(spec)).process(table)
        table = table.drop_columns(["reject_reason"])
    s = build_step(StepConfig.model_validate(steps[-1])).process(table)
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    expected = [((f0 - r0) + (f1 - r1)) / 2 for f0, r0, f1, r1 in zip(
        columns["fwd_loss"], columns["rev_loss"], columns["fwd_loss_1"], columns["rev_loss_1"],
        strict=True)]
    assert s.column("s_score").to_pylist() == pytest.approx(expected)
    assert "n_tokens_1" in columns and "n_tokens" in columns
