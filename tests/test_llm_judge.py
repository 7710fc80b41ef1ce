"""``llm_judge``: an LLM's grades become a score column, against a scripted OpenAI-compatible
server on 127.0.0.1 (scores, garbage, errors), and P(yes) from the embedded SmolLM2."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from goldpan.engine.runner import run_recipe
from goldpan.recipe import parse_recipe
from tests.conftest import goldpan, read_output, read_rejects, recipe_dict
from tests.openai_server import kill_run_after, ok, serve

SENTENCE = "The river carries water from the hills down to the sea through the valley."


def _corpus(path: Path, per_source: int = 6) -> Path:
    rows = []
    for source in ("wiki", "forum"):
        for k in range(per_source):
            kind = "garbage" if source == "forum" and k == 0 else f"grade{k % 6}"
            rows.append({"id": f"{source}-{k}", "source": source,
                         "text": f"{SENTENCE} Document {source} {k}. Marker {kind}."})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def grader(number: int, body: dict) -> object:
    """Answers like a judge: the grade the document's marker names, or nonsense."""
    prompt = body["messages"][0]["content"]
    if "Marker garbage" in prompt:
        return ok("I would rather not say.")
    grade = int(prompt.split("Marker grade")[1][0])
    return ok(f"Clear and on topic. Educational score: {grade}", 300, 20)


def _judge_recipe(corpus: Path, out: Path, url: str, **options: object) -> dict:
    step = {"name": "llm_judge", "llm": f"openai:judge@{url}", "max_retries": 3,
            "timeout": 5.0, **options}
    return recipe_dict([str(corpus)], out, steps=[step])


def _scores(run: Path, column: str = "judge_score") -> dict[str, float | None]:
    table = read_output(run)
    return dict(zip(table.column("id").to_pylist(), table.column(column).to_pylist(),
                    strict=True))


def test_scores_land_in_the_column_and_garbage_is_rejected_with_its_reason(
    tmp_path: Path,
) -> None:
    corpus = _corpus(tmp_path / "in.jsonl")
    with serve(grader) as (server, url):
        result = run_recipe(parse_recipe(_judge_recipe(corpus, tmp_path / "run", url,
                                                       price_per_million_prompt_tokens=2.0)))
    scores = _scores(tmp_path / "run")
    assert scores["wiki-3"] == 3.0 and scores["forum-5"] == 5.0 and len(scores) == 11
    rejects = read_rejects(tmp_path / "run")
    assert rejects.column("id").to_pylist() == ["forum-0"]
    assert rejects.column("reject_reason").to_pylist() == ["llm_judge:unparsable"]
    assert len(server.requests) == 12
    prompt = server.requests[0]["messages"][0]["content"]
    assert prompt.startswith("Below is an extract from a web page.") and SENTENCE in prompt
    assert server.requests[0]["temperature"] == 0.0
    judged = next(s for s in result.stats if s.step == "llm_judge")
    assert judged.metrics["requests"] == 12 and judged.metrics["cache_hits"] == 0
    assert judged.metrics["prompt_tokens"] == 11 * 300 + 7
    assert judged.metrics["cost"] == pytest.approx((11 * 300 + 7) * 2.0 / 1e6)
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert any(stage["metrics"].get("requests") == 12 for stage in stats["stages"])
    from goldpan.engine.ledger import verify_run

    assert verify_run(tmp_path / "run")[0] == []  # the judge's cache folder is no part
    reported = goldpan("report", str(tmp_path / "run"))
    assert reported.returncode == 0, reported.stderr
    page = (tmp_path / "run" / "report.html").read_text()
    assert "cache hits" in page and "completion tokens" in page


def test_unparsable_answers_can_be_kept_with_a_null_score(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "in.jsonl")
    with serve(grader) as (_, url):
        run_recipe(parse_recipe(_judge_recipe(corpus, tmp_path / "run", url,
                                              unparsable="keep")))
    scores = _scores(tmp_path / "run")
    assert len(scores) == 12 and scores["forum-0"] is None


def test_a_rerun_and_a_new_run_on_the_same_cache_send_no_request(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "in.jsonl")
    with serve(grader) as (server, url):
        run_recipe(parse_recipe(_judge_recipe(corpus, tmp_path / "run", url)))
        first = _scores(tmp_path / "run")
        assert len(server.requests) == 12
        # A changed option that does not change the prompts re-runs the stage from the cache.
        run_recipe(parse_recipe(_judge_recipe(corpus, tmp_path / "run", url, min_score=2)))
        # A new run directory reuses the first run's answers when it names their cache.
        cache = str(tmp_path / "run" / "cache" / "llm.sqlite")
        result = run_recipe(parse_recipe(_judge_recipe(corpus, tmp_path / "other", url,
                                                       cache=cache)))
        assert len(server.requests) == 12
    assert _scores(tmp_path / "other") == first
    assert set(_scores(tmp_path / "run")) == {k for k, v in first.items() if v >= 2}
    judged = next(s for s in result.stats if s.step == "llm_judge")
    assert judged.metrics["requests"] == 0 and judged.metrics["cache_hits"] == 12


def test_server_errors_are_retried_and_a_refusal_stops_with_one_line(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "in.jsonl")

    def flaky(number: int, body: dict) -> object:
        return (503, {"error": "busy"}) if number < 2 else grader(number, body)

    with serve(flaky) as (server, url):
        run_recipe(parse_recipe(_judge_recipe(corpus, tmp_path / "run", url, concurrency=1)))
    assert len(_scores(tmp_path / "run")) == 11 and len(server.requests) == 14

    refused = tmp_path / "refused.yaml"
    with serve(lambda n, b: (401, {"error": {"message": "bad key"}})) as (_, url):
        refused.write_text(yaml.safe_dump(_judge_recipe(corpus, tmp_path / "run2", url)))
        result = subprocess.run([sys.executable, "-m", "goldpan", "run", str(refused),
                                 "--quiet"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "HTTP 401" in result.stderr and "bad key" in result.stderr


def test_a_per_source_sample_judges_exactly_that_many_of_each_source(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "in.jsonl", per_source=10)
    sample = {"per_source": 3, "seed": 7}
    with serve(grader) as (server, url):
        run_recipe(parse_recipe(_judge_recipe(corpus, tmp_path / "a", url, sample=sample,
                                              unparsable="keep")))
        cache = str(tmp_path / "a" / "cache" / "llm.sqlite")
        run_recipe(parse_recipe(_judge_recipe(corpus, tmp_path / "b", url, sample=sample,
                                              unparsable="keep", unsampled="reject",
                                              cache=cache)))
        assert len(server.requests) == 6  # the second run's sample is the first one's
    asked = {r["messages"][0]["content"].split("Document ")[1].split(".")[0].replace(" ", "-")
             for r in server.requests}
    assert sorted(a.split("-")[0] for a in asked) == ["forum"] * 3 + ["wiki"] * 3
    everything = _scores(tmp_path / "a")
    assert len(everything) == 20
    assert {doc for doc, score in everything.items() if score is not None} <= asked
    assert set(_scores(tmp_path / "b")) == asked
    reasons = read_rejects(tmp_path / "b").column("reject_reason").to_pylist()
    assert reasons == ["llm_judge:not_sampled"] * 14


def test_structured_output_is_requested_and_parsed(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "in.jsonl", per_source=2)

    def structured(number: int, body: dict) -> object:
        grade = 1 if "Marker garbage" in body["messages"][0]["content"] else 4
        return ok(json.dumps({"reason": "fine", "score": grade}))

    with serve(structured) as (server, url):
        run_recipe(parse_recipe(_judge_recipe(corpus, tmp_path / "run", url, json_schema=True)))
    schema = server.requests[0]["response_format"]
    assert schema["type"] == "json_schema"
    assert schema["json_schema"]["schema"]["required"] == ["reason", "score"]
    assert sorted(_scores(tmp_path / "run").values()) == [1.0, 4.0, 4.0, 4.0]


def test_ask_llm_scores_p_yes_from_the_servers_top_log_probabilities(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "in.jsonl", per_source=2)

    def answer(number: int, body: dict) -> object:
        p_yes = 0.2 if "Marker garbage" in body["messages"][0]["content"] else 0.7
        alternatives = [{"token": "yes", "logprob": math.log(p_yes * 0.9)},
                        {"token": " Yes", "logprob": math.log(p_yes * 0.1)},
                        {"token": "no", "logprob": math.log(1 - p_yes)}]
        status, payload = ok("yes")
        payload["choices"][0]["logprobs"] = {"content": [
            {"token": "yes", "logprob": alternatives[0]["logprob"],
             "top_logprobs": alternatives}]}
        return status, payload

    with serve(answer) as (server, url):
        run_recipe(parse_recipe(_judge_recipe(corpus, tmp_path / "run", url,
                                              template="ask_llm")))
    request = server.requests[0]
    assert request["logprobs"] is True and request["top_logprobs"] == 20
    assert request["max_tokens"] == 1
    assert request["messages"][0]["content"].startswith("###\n")
    scores = _scores(tmp_path / "run")
    assert scores["forum-0"] == pytest.approx(0.2) and scores["wiki-1"] == pytest.approx(0.7)


def test_a_custom_template_sees_the_records_fields(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "in.jsonl", per_source=2)
    template = tmp_path / "judge.jinja"
    template.write_text("Source: {{ source }}\n{{ text }}\nAnswer 'Points: N'.")

    def points(number: int, body: dict) -> object:
        prompt = body["messages"][0]["content"]
        return ok("Points: 9" if prompt.startswith("Source: wiki") else "Points: 2")

    with serve(points) as (_, url):
        run_recipe(parse_recipe(_judge_recipe(corpus, tmp_path / "run", url,
                                              template=str(template),
                                              score_pattern=r"Points:\s*(\d+)",
                                              score_range=[0, 5])))
    assert _scores(tmp_path / "run") == {"forum-0": 2.0, "forum-1": 2.0}
    rejects = read_rejects(tmp_path / "run")  # 9 is out of the score range
    assert sorted(rejects.column("id").to_pylist()) == ["wiki-0", "wiki-1"]
    assert rejects.column("reject_reason").to_pylist() == ["llm_judge:unparsable"] * 2


def test_an_interrupted_run_resumes_without_asking_twice(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "in.jsonl", per_source=20)
    recipe = tmp_path / "recipe.yaml"

    def slow(number: int, body: dict) -> object:
        return ("sleep", 0.1, grader(number, body))

    with serve(slow) as (server, url):
        data = _judge_recipe(corpus, tmp_path / "run", url, concurrency=1)
        data["input"]["part_records"] = 10
        recipe.write_text(yaml.safe_dump(data))
        asked_before = kill_run_after(str(recipe), server, 15)
        assert 15 <= asked_before < 40
        command = [sys.executable, "-m", "goldpan", "run", str(recipe), "--quiet"]
        finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
    prompts = [r["messages"][0]["content"] for r in server.requests]
    # Every document asked once, but for the one request in flight when the run was killed
    # (its answer never reached the cache): concurrency 1.
    assert len(set(prompts)) == 40 and len(prompts) <= 41
    assert len(_scores(tmp_path / "run")) == 39


@pytest.mark.slow
def test_ask_llm_on_the_embedded_smollm2_is_its_own_next_token_probability(
    tmp_path: Path,
) -> None:
    """P(yes) read from the local backend's top alternatives equals the model's softmax over
    its vocabulary at the first answer position, computed here directly."""
    import torch

    from goldpan.models.load import load_cached
    from goldpan.models.prompts import adds_special_tokens, user_turn
    from goldpan.score.judge_prompts import render

    rows = [{"id": "a", "text": "Photosynthesis turns light, water and carbon dioxide into "
                                 "sugar and oxygen in the leaves of green plants."},
            {"id": "b", "text": "buy cheap buy cheap click here click here now now now"}]
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # float32 on both sides: in bfloat16 a padded batch and a lone prompt differ by ~1e-2.
    step = {"name": "llm_judge", "llm": "smollm2-135m-instruct", "template": "ask_llm",
            "dtype": "float32"}
    run_recipe(parse_recipe(recipe_dict([str(corpus)], tmp_path / "run", steps=[step])))
    scores = _scores(tmp_path / "run")
    loaded = load_cached("smollm2-135m-instruct", "float32")
    tokenizer = loaded.tokenizer
    for row in rows:
        prompt = user_turn(tokenizer, render("ask_llm", row, 30_000))
        encoded = tokenizer(prompt, return_tensors="pt",
                            add_special_tokens=adds_special_tokens(tokenizer))
        with torch.inference_mode():
            logits = loaded.model(**encoded).logits[0, -1].float()
        probabilities = torch.softmax(logits, dim=-1)
        expected = sum(float(probabilities[i]) for i in range(len(probabilities))
                       if tokenizer.decode([i]).strip() in ("yes", "Yes")
                       and float(probabilities[i]) >= float(probabilities.topk(20).values[-1]))
        assert 0.0 < scores[row["id"]] < 1.0
        assert scores[row["id"]] == pytest.approx(expected, abs=1e-4)


def test_a_fractional_sample_judges_what_the_sample_step_would_keep(tmp_path: Path) -> None:
    """The same seeded draw per id as ``sample``: a smaller fraction judges a subset."""
    from goldpan.data.draws import uniform_from_ids

    corpus = _corpus(tmp_path / "in.jsonl", per_source=20)
    judged: dict[float, set[str]] = {}
    with serve(grader) as (_, url):
        for fraction in (0.25, 0.5):
            run_recipe(parse_recipe(_judge_recipe(corpus, tmp_path / f"f{fraction}", url,
                                                  sample={"fraction": fraction, "seed": 5},
                                                  unsampled="reject", unparsable="keep")))
            judged[fraction] = set(_scores(tmp_path / f"f{fraction}"))
    ids = [json.loads(line)["id"] for line in corpus.read_text().splitlines()]
    draws = dict(zip(ids, uniform_from_ids(ids, 5), strict=True))
    assert judged[0.5] == {doc for doc, draw in draws.items() if draw < 0.5}
    assert judged[0.25] < judged[0.5] and 4 <= len(judged[0.25]) <= 16
