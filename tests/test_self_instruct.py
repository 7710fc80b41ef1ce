"""Self-Instruct: the original's prompt, parsing and filters; the pipeline end to end against a
scripted teacher; the exact ROUGE-L novelty check; the embedded teacher (slow)."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import pytest
from rouge_score import rouge_scorer

from goldpan.errors import GoldpanError
from goldpan.llm import make_llm
from goldpan.synth.records import Instance
from goldpan.synth.rouge import RougeLPool, lcs_length
from goldpan.synth.self_instruct import (
    SelfInstructConfig,
    encode_prompt,
    filter_instances,
    instruction_problem,
    load_seed_tasks,
    parse_instances,
    parse_instructions,
    self_instruct,
)
from tests.conftest import goldpan
from tests.test_llm import serve


def test_the_seed_file_holds_175_tasks_in_the_original_format() -> None:
    seeds = load_seed_tasks()
    assert len(seeds) == 175
    assert seeds[0].id and seeds[0].name and seeds[0].instruction
    assert all(s.instances and s.instances[0].output for s in seeds)
    assert 20 <= sum(s.is_classification for s in seeds) <= 60
    assert all(instruction_problem(s.instruction) is None for s in seeds)
    assert len({s.instruction for s in seeds}) == 175


def test_seed_tasks_in_alpacas_format_become_one_instance_tasks(tmp_path: Path) -> None:
    path = tmp_path / "alpaca_gpt4_seeds.jsonl"
    rows = [{"instruction": "Give three tips for staying healthy.", "input": "",
             "output": "1. Eat well."},
            {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    seeds = load_seed_tasks(path)
    assert [s.instruction for s in seeds] == [r["instruction"] for r in rows]
    assert seeds[1].instances == (Instance("Good morning", "Bonjour"),)
    assert seeds[0].is_classification is False and seeds[0].id == "alpaca_1"
    path.write_text(json.dumps({"instruction": "No answer here."}) + "\n")
    with pytest.raises(GoldpanError, match="instruction and output \\(Alpaca\\)"):
        load_seed_tasks(path)


def test_the_bootstrap_prompt_numbers_eight_instructions_and_leaves_the_ninth_open() -> None:
    prompt = encode_prompt([f"Instruction {i}:  with  spaces" for i in range(1, 9)])
    lines = prompt.splitlines()
    assert lines[0] == "Come up with a series of tasks:"
    assert lines[1] == "Task 1: Instruction 1: with spaces"
    assert lines[8].startswith("Task 8: ") and lines[9] == "Task 9:"
    assert encode_prompt(["A b c d"], numbering="number").endswith("1. A b c d\n2.")


def test_a_continuation_splits_into_instructions_and_a_cut_off_last_one_is_dropped() -> None:
    text = " Name three rivers in Europe.\nTask 10: Translate the word into German.\nTask 11: Write"
    assert parse_instructions(text, "task", truncated=True) == [
        "Name three rivers in Europe.",
        "Translate the word into German.",
    ]
    assert len(parse_instructions(text, "task", truncated=False)) == 3
    numbered = " First task here.\n10. Second task here.\n11 . Third task here."
    assert len(parse_instructions(numbered, "number", truncated=False)) == 3


@pytest.mark.parametrize(
    ("instruction", "reason"),
    [
        ("Too short here", "too_short"),
        ("word " * 151, "too_long"),
        ("Describe the image in two sentences.", "unsuitable_keyword"),
        ("Plot the data as a bar chart.", "unsuitable_keyword"),
        ("Tell me how to go to the station.", "unsuitable_keyword"),
        ("Write a program that sorts numbers.", "write_a_program"),
        ("- List three fruits that are red.", "starts_with_punctuation"),
        ("Écris une phrase en français.", "starts_non_ascii"),
        ("List three fruits that are red.", None),
        ("Explain what a mapping between sets is.", None),  # "map" only as a whole word
    ],
)
def test_the_original_instruction_filters(instruction: str, reason: str | None) -> None:
    assert instruction_problem(instruction.strip()) == reason


def test_instances_parse_input_first_and_output_first() -> None:
    generated = "Example 1\nInput: 2 + 2\nOutput: 4\nExample 2\nInput: 3 + 5\nOutput: 8\nTask: x"
    assert parse_instances(generated, classification=False) == [("2 + 2", "4"), ("3 + 5", "8")]
    assert parse_instances("Output: Just an answer.", classification=False) == [
        ("", "Just an answer.")
    ]
    labels = " Positive\nInput: I loved it.\nClass label: Negative\nInput: I hated it."
    assert parse_instances(labels, classification=True) == [
        ("I loved it.", "Positive"),
        ("I hated it.", "Negative"),
    ]


def test_the_original_instance_filters() -> None:
    assert filter_instances([("same", "same"), ("a", ""), ("Input:", "x"), ("b", "y:")]) == []
    assert filter_instances([("a", "1"), ("a", "2"), ("b", "3")]) == []  # ambiguous task
    assert filter_instances([("a", "1"), ("a", "1"), ("", "2")]) == [("a", "1"), ("", "2")]


def test_rouge_l_decisions_equal_rouge_score_on_real_instructions() -> None:
    seeds = [s.instruction for s in load_seed_tasks()]
    pool = RougeLPool(seeds)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rng = random.Random(0)
    for _ in range(150):
        left, right = rng.choice(seeds).split(), rng.choice(seeds).split()
        candidate = " ".join(left[: rng.randint(1, len(left))] + right[rng.randint(0, 3) :])
        for threshold in (0.3, 0.7):
            expected = {
                i
                for i, s in enumerate(seeds)
                if scorer.score(candidate, s)["rougeL"].fmeasure > threshold
            }
            assert {i for i, _ in pool.scores_above(candidate, threshold)} == expected


def test_the_lcs_is_exact() -> None:
    assert lcs_length([1, 2, 3, 4, 1], [3, 4, 1, 2, 1]) == 3
    assert lcs_length([], [1]) == 0 and lcs_length([5, 5, 5], [5, 5]) == 2


# ---------------------------------------------------------------- the pipeline, scripted
NEW = [
    "Name three animals that live in the desert.",
    "Convert the list of temperatures from Celsius to Kelvin.",
    "Suggest a name for a podcast about history.",
    "Is the sentence a question or a statement?",
]


def scripted_teacher(number: int, body: dict) -> object:
    """A teacher that continues bootstrap prompts with a mix of good and bad instructions,
    answers the classification prompt, and writes instances."""
    prompt = body["prompt"]
    if prompt.startswith("Come up with a series of tasks"):
        k = number % len(NEW)
        text = (
            f" {NEW[k]}\nTask 10: Draw a picture of a cat.\nTask 11: Write a program in C."
            f"\nTask 12: Rewrite the sentence in the passive voice.\nTask 13: {NEW[(k + 1) % 4]}"
        )
        return 200, {"choices": [{"text": text, "finish_reason": "stop"}]}
    if prompt.startswith("Can the following task"):
        task = prompt.rsplit("Task: ", 1)[1]
        answer = " Yes" if "question or a statement" in task else " No"
        return 200, {"choices": [{"text": answer}]}
    if "Class label:" in prompt.rsplit("Task: ", 1)[1]:
        text = " Question\nInput: Where is it?\nClass label: Statement\nInput: It is here."
        return 200, {"choices": [{"text": text}]}
    return 200, {"choices": [{"text": "Example 1\nInput: a\nOutput: b\nExample 2\nOutput: c"}]}


def test_a_run_stopped_in_its_instance_phase_resumes_without_asking_for_instructions_again(
    tmp_path: Path,
) -> None:
    """The teacher goes away while instances are written (no cache): the rerun reads the
    finished bootstrap and classification phases back, asks only for instances, and writes
    what an uninterrupted run writes (the random draws of the instance prompts included)."""
    import zlib

    def by_prompt(number: int, body: dict) -> object:  # the same answer whatever the order
        return scripted_teacher(zlib.crc32(body["prompt"].encode()), body)

    def dies_on_instances(number: int, body: dict) -> object:
        if body["prompt"].startswith("Come up with examples") or "Class label" in body["prompt"]:
            return 400, {"error": {"message": "the teacher is gone"}}
        return by_prompt(number, body)

    config = SelfInstructConfig(n=4, requests_per_round=2, max_new_tokens=64)
    with serve(by_prompt) as (straight, url):
        self_instruct(make_llm(f"openai:teacher@{url}", None, backoff=0.01), config,
                      tmp_path / "straight")
    instance_prompts = sorted(body["prompt"] for body in straight.requests
                              if not body["prompt"].startswith(("Come up with a series",
                                                                "Can the following")))

    with serve(dies_on_instances) as (_, url), pytest.raises(GoldpanError):
        self_instruct(make_llm(f"openai:teacher@{url}", None, backoff=0.01, max_retries=0),
                      config, tmp_path / "resumed")
    assert json.loads((tmp_path / "resumed" / "phases.json").read_text())["done"] == [
        "instructions", "classification"]
    with serve(by_prompt) as (fake, url):
        self_instruct(make_llm(f"openai:teacher@{url}", None, backoff=0.01), config,
                      tmp_path / "resumed")
    asked = [body["prompt"] for body in fake.requests]
    assert sorted(asked) == instance_prompts  # the same demonstrations drawn, nothing else
    for name in ("tasks.jsonl", "alpaca.jsonl", "messages.jsonl", "rejected_instructions.jsonl"):
        assert (tmp_path / "resumed" / name).read_text() == (
            tmp_path / "straight" / name).read_text(), name


def test_self_instruct_filters_and_writes_every_output_and_reruns_from_the_cache(
    tmp_path: Path,
) -> None:
    config = SelfInstructConfig(n=4, requests_per_round=2, max_new_tokens=64)
    with serve(scripted_teacher) as (fake, url):
        llm = make_llm(f"openai:teacher@{url}", tmp_path / "cache.sqlite", backoff=0.01)
        stats = self_instruct(llm, config, tmp_path / "out")
        first_requests = len(fake.requests)
        rerun = make_llm(f"openai:teacher@{url}", tmp_path / "cache.sqlite", backoff=0.01)
        again = self_instruct(rerun, config, tmp_path / "again")
        assert len(fake.requests) == first_requests  # the rerun sent nothing
    assert again.usage["requests"] == 0 and again.instructions == 4
    assert all(p.startswith("/v1/completions") for p in fake.paths)  # raw text, as GPT-3
    tasks = [json.loads(line) for line in (tmp_path / "out" / "tasks.jsonl").open()]
    assert sorted(t["instruction"] for t in tasks) == sorted(NEW)
    assert {t["instruction"]: t["is_classification"] for t in tasks}[NEW[3]] is True
    assert all(len(t["prompt_instructions"]) == 8 for t in tasks)
    rejected = [
        json.loads(line) for line in (tmp_path / "out" / "rejected_instructions.jsonl").open()
    ]
    reasons = {r["reason"] for r in rejected}
    assert {"unsuitable_keyword", "write_a_program", "too_similar"} <= reasons
    similar = next(r for r in rejected if r["reason"] == "too_similar")
    assert similar["rouge_l"] > 0.7 and similar["similar_to"]
    alpaca = [json.loads(line) for line in (tmp_path / "out" / "alpaca.jsonl").open()]
    assert {"instruction": NEW[3], "input": "Where is it?", "output": "Question"} in alpaca
    assert {"instruction": NEW[0], "input": "a", "output": "b"} in alpaca
    messages = [json.loads(line) for line in (tmp_path / "out" / "messages.jsonl").open()]
    assert len(messages) == len(alpaca) == stats.instances
    assert messages[0]["messages"][0]["role"] == "user"
    assert stats.raw_instructions == stats.instructions + sum(stats.rejected.values())
    _check_report(tmp_path / "out", stats)


def _check_report(out: Path, stats: dict) -> None:
    """The run's report repeats the filter counts and shows the dropped instructions."""
    from goldpan.report import build_report
    from goldpan.report.page import Samples, Table

    report = build_report(out)
    assert report.title.startswith("Self-Instruct run")
    table = next(b for s in report.sections for b in s.blocks if isinstance(b, Table))
    assert dict(table.rows) == {"kept": stats.instructions, **stats.rejected}
    titles = [b.title for s in report.sections for b in s.blocks if isinstance(b, Samples)]
    assert "Rejected: too_similar" in titles


def test_a_second_round_shows_two_generated_instructions_among_the_eight(tmp_path: Path) -> None:
    config = SelfInstructConfig(n=4, requests_per_round=1, max_new_tokens=64)
    with serve(scripted_teacher) as (fake, url):
        self_instruct(make_llm(f"openai:t@{url}", None), config, tmp_path / "out")
    prompts = [r["prompt"] for r in fake.requests if r["prompt"].startswith("Come up")]
    shown = [re.findall(r"Task \d+: (.*)", p) for p in prompts]
    assert not set(shown[0]) & set(NEW)
    assert len(set(shown[1]) & set(NEW)) == 2


def test_the_command_reports_counts_and_errors_in_one_line(tmp_path: Path) -> None:
    with serve(scripted_teacher) as (_, url):
        result = goldpan(
            "synth", "self-instruct", "--teacher", f"openai:t@{url}", "--n", "3",
            "--out", str(tmp_path / "out"), check=True,
        )  # fmt: skip
    assert "3 instructions" in result.stderr and (tmp_path / "out" / "alpaca.jsonl").is_file()
    with serve(lambda n, body: (401, {"error": {"message": "bad key"}})) as (_, url):
        failed = goldpan(
            "synth", "self-instruct", "--teacher", f"openai:t@{url}", "--out", str(tmp_path / "x")
        )
    assert failed.returncode == 2 and "HTTP 401" in failed.stderr and "bad key" in failed.stderr
    assert "Traceback" not in failed.stderr


@pytest.mark.slow
def test_the_embedded_teacher_produces_25_instructions_in_minutes_and_reruns_instantly(
    tmp_path: Path,
) -> None:
    # 25 rather than 50 keeps the suite short; the rounds, filters and cache are the same.
    command = ["synth", "self-instruct", "--teacher", "smollm2-135m-instruct", "--n", "25"]
    started = time.perf_counter()
    goldpan(*command, "--out", str(tmp_path / "out"), check=True)
    first = time.perf_counter() - started
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["instructions"] == 25 and stats["usage"]["requests"] > 0
    tasks = [json.loads(line) for line in (tmp_path / "out" / "tasks.jsonl").open()]
    assert all(instruction_problem(t["instruction"]) is None for t in tasks)
    assert first < 600
    started = time.perf_counter()
    goldpan(*command, "--out", str(tmp_path / "out"), check=True)
    assert time.perf_counter() - started < 30
    rerun = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert rerun["usage"]["requests"] == 0 and rerun["instructions"] == 25
