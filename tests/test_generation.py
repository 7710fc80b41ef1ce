"""Generation steps against a scripted OpenAI-compatible server on 127.0.0.1: responses from
several models, UltraFeedback-style ratings, preference pairs; the cache (a rerun asks nothing),
failed requests (recorded, then retried alone), a dead server (one line), a killed run (no
answered request asked twice) and TRL's DPO on the result."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import read_rejects
from tests.openai_server import kill_run_after, ok, serve

PROMPTS = [
    {"id": "p1", "messages": [{"role": "user", "content": "Why is the sea salty?"}]},
    {"id": "p2", "messages": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Name a metal that is liquid at room temperature."},
        {"role": "assistant", "content": "Mercury."},
        {"role": "user", "content": "And one that melts in your hand?"}]},
    {"id": "p3", "messages": [{"role": "user", "content": "Write a haiku about rain."}]},
]


def answer_for(body: dict[str, Any]) -> str:
    """A generation: which model, which seed, which question (so every sample differs)."""
    question = body["messages"][-1]["content"]
    return f"[{body['model']} seed {body['seed']}] answer to: {question}"


def rating_for(prompt: str) -> str:
    """A judge that likes answers by 'alpha' more, and even seeds more than odd ones."""
    model = re.search(r"\[(\w+) seed (\d+)\]", prompt)
    if model is None:
        return "I cannot rate this."
    score = (4 if model.group(1) == "alpha" else 2) + (1 if int(model.group(2)) % 2 == 0 else 0)
    return f"Rating: {score}\nRationale: scripted."


def script(number: int, body: dict[str, Any]) -> object:
    prompt = body["messages"][-1]["content"]
    if "## Your assessment" in prompt:
        if "<text 1>" in prompt:  # the all-in-one prompt
            texts = re.findall(r"<text (\d+)> (.*)", prompt)
            return ok("\n\n".join(f"#### Output for Text {k}\n{rating_for(t)}"
                                  for k, t in texts))
        return ok(rating_for(prompt.split("## Response")[1]))
    return ok(answer_for(body), 11, 7)


def _write_prompts(folder: Path) -> Path:
    path = folder / "prompts.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    return path


def _recipe(source: Path, out: Path, url: str, steps: list[dict[str, Any]] | None = None,
            **output: Any) -> dict[str, Any]:
    steps = steps if steps is not None else [
        {"name": "generate", "llm": [f"openai:alpha@{url}", f"openai:beta@{url}"], "n": 2,
         "max_retries": 0},
        {"name": "rate", "llm": f"openai:judge@{url}", "max_retries": 0},
        {"name": "preference_pairs"},
    ]
    return {"input": {"paths": [str(source)], "kind": "chat", "id_field": "id"},
            "output": {"dir": str(out), "format": "jsonl", **output}, "workers": 1,
            "seed": 10, "steps": steps}


def _run(data: dict[str, Any]) -> Any:
    from goldpan.engine.ledger import verify_run
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    result = run_recipe(parse_recipe(data))
    assert verify_run(data["output"]["dir"])[0] == []
    return result


def _jsonl(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted((run / "output").glob("*.jsonl"))
            for line in f.read_text().split("\n") if line]


def _stage_metrics(run: Path, step: str) -> dict[str, float]:
    stats = json.loads((run / "stats.json").read_text())
    return next(s["metrics"] for s in stats["stages"] if s["step"] == step)


def test_generate_asks_each_model_for_n_samples_of_the_conversation_so_far(tmp_path: Path
                                                                           ) -> None:
    source = _write_prompts(tmp_path)
    with serve(script) as (server, url):
        steps = [{"name": "generate", "llm": [f"openai:alpha@{url}", f"openai:beta@{url}"],
                  "n": 2, "temperature": 0.9, "max_new_tokens": 64}]
        _run(_recipe(source, tmp_path / "run", url, steps))
    kept = {r["id"]: r for r in _jsonl(tmp_path / "run")}
    assert len(server.requests) == 3 * 2 * 2
    asked = [r for r in server.requests if r["messages"][-1]["content"].startswith("And one")]
    assert all(r["messages"] == PROMPTS[1]["messages"] for r in asked)  # the whole conversation
    responses = kept["p2"]["responses"]
    assert [(r["model"], r["finish_reason"], r["truncated"]) for r in responses] == [
        (f"openai:{m}@{url}", "stop", False) for m in ("alpha", "alpha", "beta", "beta")]
    # Sample i is seeded seed + i, with the recipe's seed.
    assert [re.search(r"seed (\d+)", r["content"]).group(1) for r in responses] == [
        "10", "11", "10", "11"]
    assert kept["p2"]["messages"] == PROMPTS[1]["messages"]  # not appended unless asked
    metrics = _stage_metrics(tmp_path / "run", "generate")
    assert metrics["requests"] == 12 and metrics["prompt_tokens"] == 12 * 11
    assert metrics["completion_tokens"] == 12 * 7


def test_generate_can_append_the_answer_and_marks_truncated_ones(tmp_path: Path) -> None:
    def truncating(number: int, body: dict[str, Any]) -> object:
        status, payload = ok(answer_for(body))
        payload["choices"][0]["finish_reason"] = "length"
        return status, payload

    source = _write_prompts(tmp_path)
    with serve(truncating) as (_, url):
        steps = [{"name": "generate", "llm": f"openai:alpha@{url}", "append": True}]
        _run(_recipe(source, tmp_path / "run", url, steps))
    kept = {r["id"]: r for r in _jsonl(tmp_path / "run")}
    assert kept["p1"]["messages"][-1]["role"] == "assistant"
    assert kept["p1"]["messages"][-1]["content"].endswith("Why is the sea salty?")
    assert kept["p1"]["responses"][0]["truncated"] is True


@pytest.mark.parametrize("together", [False, True])
def test_rate_gives_each_response_its_aspects_and_mean(tmp_path: Path, together: bool) -> None:
    source = _write_prompts(tmp_path)
    with serve(script) as (server, url):
        data = _recipe(source, tmp_path / "run", url)
        data["steps"][1]["together"] = together
        data["steps"] = data["steps"][:2]
        _run(data)
    judged = [r for r in server.requests if "## Your assessment" in r["messages"][-1]["content"]]
    # One request per response and aspect, or per record and aspect all together.
    assert len(judged) == (3 * 4 * 4 if not together else 3 * 4)
    record = {r["id"]: r for r in _jsonl(tmp_path / "run")}["p1"]
    for response, rating in zip(record["responses"], record["ratings"], strict=True):
        expected = float(rating_for(response["content"]).split()[1])
        assert rating == {"instruction_following": expected, "honesty": expected,
                          "truthfulness": expected, "helpfulness": expected, "mean": expected}


def test_unparsable_ratings_are_nulls_that_are_counted(tmp_path: Path) -> None:
    def vague_judge(number: int, body: dict[str, Any]) -> object:
        prompt = body["messages"][-1]["content"]
        if "## Your assessment" in prompt:
            if "# Honesty" in prompt:
                return ok("Rating: N/A\nRationale: creative writing.")
            return ok(rating_for(prompt.split("## Response")[1]))
        return ok(answer_for(body))

    source = _write_prompts(tmp_path)
    with serve(vague_judge) as (_, url):
        data = _recipe(source, tmp_path / "run", url)
        _run(data)
    rating = _jsonl(tmp_path / "run")[0]
    assert "chosen" in rating
    assert _stage_metrics(tmp_path / "run", "rate")["unparsable"] == 3 * 4  # every honesty


def test_preference_pairs_choose_the_best_against_the_worst(tmp_path: Path) -> None:
    source = _write_prompts(tmp_path)
    with serve(script) as (_, url):
        _run(_recipe(source, tmp_path / "run", url))
    pairs = {r["id"]: r for r in _jsonl(tmp_path / "run")}
    assert set(pairs) == {"p1", "p2", "p3"}
    pair = pairs["p2"]
    assert pair["prompt"] == PROMPTS[1]["messages"]
    # alpha with an even seed rates 5, beta with an odd seed 2.
    assert pair["chosen"][0]["content"].startswith("[alpha seed 10]")
    assert pair["rejected"][0]["content"].startswith("[beta seed 11]")
    assert (pair["chosen_rating"], pair["rejected_rating"]) == (5.0, 2.0)
    assert "responses" not in pair and "messages" not in pair


def test_pairs_that_cannot_be_made_are_rejected_with_their_reason() -> None:
    import random

    from goldpan.generate.preference_pairs import pick_pair

    assert pick_pair([4.0, None], None) == "too_few_rated"
    assert pick_pair([3.0, 3.0, 3.0], None) == "tie"
    assert pick_pair([2.0, 5.0, 1.0, 5.0], None) == (1, 2)
    draws = {pick_pair([5.0, 1.0, 2.0, 3.0], random.Random(seed))[1] for seed in range(40)}
    assert draws == {1, 2, 3}  # a random lower-rated response, never the chosen one


def test_a_margin_rejects_close_pairs(tmp_path: Path) -> None:
    source = _write_prompts(tmp_path)
    with serve(script) as (_, url):
        data = _recipe(source, tmp_path / "run", url)
        data["steps"][2]["margin"] = 3.5
        _run(data)
    reasons = set(read_rejects(tmp_path / "run").column("reject_reason").to_pylist())
    assert reasons == {"preference_pairs:below_margin"}


def test_a_rerun_and_a_new_run_on_the_same_cache_send_no_request(tmp_path: Path) -> None:
    source = _write_prompts(tmp_path)
    cache = tmp_path / "shared.sqlite"
    with serve(script) as (server, url):
        data = _recipe(source, tmp_path / "run", url)
        for step in data["steps"][:2]:
            step["cache"] = str(cache)
        _run(data)
        first = len(server.requests)
        _run(data)  # the same run: every stage done
        data["output"]["dir"] = str(tmp_path / "again")
        _run(data)  # a new run directory on the same cache
        assert len(server.requests) == first
    assert _jsonl(tmp_path / "run") == _jsonl(tmp_path / "again")
    metrics = _stage_metrics(tmp_path / "again", "generate")
    assert metrics["requests"] == 0 and metrics["cache_hits"] == 12


def test_failed_requests_are_recorded_and_a_rerun_asks_only_those(tmp_path: Path) -> None:
    broken = {"on": True}

    def flaky(number: int, body: dict[str, Any]) -> object:
        prompt = body["messages"][-1]["content"]
        if broken["on"] and body["model"] == "beta" and "sea" in prompt and body["seed"] == 11:
            return 500, {"error": {"message": "overloaded"}}
        return script(number, body)

    source = _write_prompts(tmp_path)
    with serve(flaky) as (server, url):
        data = _recipe(source, tmp_path / "run", url)
        _run(data)
        reasons = {r["id"]: r["reject_reason"]
                   for r in read_rejects(tmp_path / "run").to_pylist()}
        assert reasons == {"p1": "generate:error"}
        assert _stage_metrics(tmp_path / "run", "generate")["failures"] == 1
        asked = len(server.requests)
        broken["on"] = False
        _run(data)
        again = server.requests[asked:]
    # The rerun sent the failed generation and the ratings of the record it completes.
    generations = [r for r in again if "## Your assessment" not in r["messages"][-1]["content"]]
    assert len(generations) == 1 and generations[0]["model"] == "beta"
    assert len(again) == 1 + 4 * 4
    assert {r["id"] for r in _jsonl(tmp_path / "run")} == {"p1", "p2", "p3"}
    assert read_rejects(tmp_path / "run").num_rows == 0


def test_a_server_that_is_down_stops_the_run_with_one_line(tmp_path: Path) -> None:
    from tests.conftest import goldpan

    source = _write_prompts(tmp_path)
    recipe = tmp_path / "recipe.yaml"
    data = _recipe(source, tmp_path / "run", "http://127.0.0.1:9/v1")
    recipe.write_text(yaml.safe_dump(data))
    result = goldpan("run", str(recipe), "--quiet")
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "connection failed" in lines[0], result.stderr


def test_a_killed_run_asks_no_answered_request_again(tmp_path: Path) -> None:
    prompts = [{"id": f"q{i}", "messages": [{"role": "user", "content": f"Question {i}?"}]}
               for i in range(30)]
    source = tmp_path / "prompts.jsonl"
    source.write_text("".join(json.dumps(p) + "\n" for p in prompts))

    def slow(number: int, body: dict[str, Any]) -> object:
        return ("sleep", 0.05, script(number, body))

    steps = lambda url: [{"name": "generate", "llm": f"openai:alpha@{url}", "n": 2,  # noqa: E731
                          "concurrency": 1, "max_retries": 0}]
    with serve(slow) as (server, url):
        data = _recipe(source, tmp_path / "run", url, steps(url))
        data["input"]["part_records"] = 10
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(yaml.safe_dump(data))
        asked_before = kill_run_after(str(recipe), server, 25)
        assert 25 <= asked_before < 60
        command = [sys.executable, "-m", "goldpan", "run", str(recipe), "--quiet"]
        finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
    keys = [(r["messages"][-1]["content"], r["seed"]) for r in server.requests]
    # Every request once, but the one in flight when the run was killed (concurrency 1).
    assert len(set(keys)) == 60 and len(keys) <= 61
    with serve(script) as (_, url):
        whole = _recipe(source, tmp_path / "whole", url, steps(url))
        _run(whole)
    killed, uninterrupted = _jsonl(tmp_path / "run"), _jsonl(tmp_path / "whole")
    for row in killed + uninterrupted:
        for response in row["responses"]:
            response["model"] = response["model"].split("@")[0]
    assert killed == uninterrupted


def test_the_ultrafeedback_recipe_feeds_trls_dpo(tmp_path: Path, tiny_lm: Path) -> None:
    """recipes/ultrafeedback.yaml against the scripted server: its preference JSONL is what
    DPOTrainer prepares, and one DPO step runs on a tiny random model."""
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from goldpan.engine.runner import run_recipe
    from goldpan.models.chat_tokens import template_text
    from goldpan.recipe import load_recipe

    source = _write_prompts(tmp_path)
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "ultrafeedback.yaml"
    with serve(script) as (_, url):
        overrides = [f"input.paths=[{source}]", f"output.dir={tmp_path / 'uf'}", "workers=1",
                     "steps.0.fraction=1.0",
                     f"steps.1.llm=[openai:alpha@{url}, openai:beta@{url}]",
                     f"steps.2.llm=openai:judge@{url}"]
        run_recipe(load_recipe(recipe, overrides))
    pairs = datasets.load_dataset("json", data_files=str(tmp_path / "uf" / "output" / "*.jsonl"),
                                  split="train")
    assert len(pairs) == 3
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    tokenizer.chat_template = template_text("smollm2-generation")
    model = AutoModelForCausalLM.from_pretrained(tiny_lm)
    trainer = trl.DPOTrainer(
        model=model, processing_class=tokenizer, train_dataset=pairs,
        args=trl.DPOConfig(output_dir=str(tmp_path / "dpo"), report_to=[], max_length=256,
                           max_steps=1, per_device_train_batch_size=2, use_cpu=True,
                           bf16=False, save_strategy="no", logging_steps=1))
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0


def refiner(number: int, body: dict[str, Any]) -> object:
    """Feedback until an answer has been rewritten twice, then the stop phrase; rewrites add a
    mark; critiques name the principle's first word; revisions mark the answer revised."""
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("Here is a request, an answer to it, and feedback"):
        answer = prompt.split("## Answer\n")[1].split("\n\n## Feedback")[0]
        return ok(answer + " (refined)")
    if prompt.startswith("Here is a request and an answer"):
        answer = prompt.split("## Answer\n")[1].split("\n\nGive specific")[0]
        if answer.count("(refined)") >= 2:
            return ok("NO FURTHER CHANGES")
        return ok("Say more about tides.")
    if prompt.startswith("Point out"):
        return ok(f"Critique by {prompt.split()[2]}.")
    if prompt.startswith("Rewrite the assistant"):
        last = body["messages"][-4]["content"]  # the answer before the critique
        return ok(last + " [revised]")
    return ok(answer_for(body))


ANSWERED = [{"id": "a1", "messages": [{"role": "user", "content": "Why is the sea salty?"},
                                      {"role": "assistant", "content": "Rivers carry salt."}]},
            {"id": "a2", "messages": [{"role": "user", "content": "What makes tides?"}]}]


def test_self_refine_loops_until_the_feedback_says_stop(tmp_path: Path) -> None:
    source = tmp_path / "answered.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in ANSWERED))
    with serve(refiner) as (_, url):
        steps = [{"name": "self_refine", "llm": f"openai:m@{url}", "max_iterations": 4}]
        _run(_recipe(source, tmp_path / "run", url, steps))
        pairs = _recipe(source, tmp_path / "pairs", url,
                        [{**steps[0], "as_preference": True}])
        _run(pairs)
    kept = {r["id"]: r for r in _jsonl(tmp_path / "run")}
    assert kept["a1"]["messages"][-1]["content"] == "Rivers carry salt. (refined) (refined)"
    trajectory = kept["a1"]["refinements"]
    assert [t["feedback"] for t in trajectory] == ["Say more about tides.",
                                                   "Say more about tides.",
                                                   "NO FURTHER CHANGES"]
    # A conversation without an answer gets one from the model first.
    assert kept["a2"]["messages"][-1]["content"].startswith("[m seed 10]")
    pair = {r["id"]: r for r in _jsonl(tmp_path / "pairs")}["a1"]
    assert pair["chosen"][0]["content"].endswith("(refined) (refined)")
    assert pair["rejected"][0]["content"] == "Rivers carry salt."


def test_critique_revise_samples_a_principle_per_round(tmp_path: Path) -> None:
    source = tmp_path / "answered.jsonl"
    source.write_text(json.dumps(ANSWERED[0]) + "\n" + json.dumps(
        {"id": "no-answer", "messages": ANSWERED[1]["messages"]}) + "\n")
    with serve(refiner) as (server, url):
        steps = [{"name": "critique_revise", "llm": f"openai:m@{url}", "rounds": 2,
                  "as_preference": True}]
        _run(_recipe(source, tmp_path / "run", url, steps))
    pair = _jsonl(tmp_path / "run")[0]
    assert pair["chosen"][0]["content"] == "Rivers carry salt. [revised] [revised]"
    assert pair["rejected"][0]["content"] == "Rivers carry salt."
    import random

    from goldpan.generate.critique_revise import DEFAULT_PRINCIPLES, load_principles

    principles = load_principles(DEFAULT_PRINCIPLES)
    # One principle per round, drawn by the recipe's seed, the record's id and the round.
    assert [r["principle"] for r in pair["revisions"]] == [
        random.Random(f"10:a1:{n}").choice(principles)["name"] for n in range(2)]
    assert [r["critique"] for r in pair["revisions"]] == [
        f"Critique by {r['principle'] and p['critique'].split()[2]}." for r, p in zip(
            pair["revisions"], [random.Random(f"10:a1:{n}").choice(principles)
                                for n in range(2)], strict=True)]
    # The critique request follows the conversation as a user turn, as in the paper.
    critique = server.requests[0]["messages"]
    assert critique[:2] == ANSWERED[0]["messages"] and critique[2]["role"] == "user"
    reasons = {r["id"]: r["reject_reason"] for r in read_rejects(tmp_path / "run").to_pylist()}
    assert reasons == {"no-answer": "critique_revise:no_answer"}


def evolver(number: int, body: dict[str, Any]) -> object:
    """Evolutions append the method's first words; the equality judge says Equal when the
    evolution was 'concretize'; instructions mentioning lava get an apology."""
    from goldpan.generate.evol_instruct import DEPTH_METHODS

    prompt = body["messages"][-1]["content"]
    if prompt.startswith("Are these two instructions"):
        second = prompt.split("Second instruction:\n")[1]
        return ok("Equal" if "(concretize)" in second.split("\n\nAnswer")[0].split("\n")[-1]
                  else "Not Equal")
    if prompt.startswith("You rewrite prompts") or prompt.startswith("You write new prompts"):
        instruction = prompt.split("Prompt:\n" if "Prompt:\n" in prompt
                                   else "Example prompt:\n")[1].split("\n\n")[0]
        method = next((m for m, text in DEPTH_METHODS.items() if text in prompt), "breadth")
        if method == "breadth":
            return ok("What do volcanoes erupt besides lava?")
        return ok(f"{instruction} ({method})")
    if "lava" in prompt:
        return ok("Sorry, I cannot answer that.")
    return ok(f"A long and useful answer to: {prompt}")


def test_evol_instruct_evolves_and_eliminates_by_the_papers_rules(tmp_path: Path) -> None:
    import random

    from goldpan.generate.evol_instruct import EVOLUTIONS

    prompts = [{"id": f"e{i}", "messages": [{"role": "user", "content": f"Explain tides {i}."}]}
               for i in range(6)]
    source = tmp_path / "seeds.jsonl"
    source.write_text("".join(json.dumps(p) + "\n" for p in prompts))
    with serve(evolver) as (_, url):
        steps = [{"name": "evol_instruct", "llm": f"openai:m@{url}", "rounds": 3}]
        _run(_recipe(source, tmp_path / "run", url, steps))
    kept = {r["id"]: r for r in _jsonl(tmp_path / "run")}
    rejected = {r["id"]: r["reject_reason"] for r in read_rejects(tmp_path / "run").to_pylist()}
    assert set(kept) | set(rejected) == {p["id"] for p in prompts}
    eliminated = 0
    for prompt in prompts:
        record_id = prompt["id"]
        drawn = [random.Random(f"10:{record_id}:{n}").choice(EVOLUTIONS) for n in (1, 2, 3)]
        # concretize is judged equal (no_gain); breadth asks about lava (apology).
        survivors = [m for m in drawn if m not in ("concretize", "breadth")]
        eliminated += len(drawn) - len(survivors)
        if not survivors:
            assert rejected[record_id] == "evol_instruct:never_evolved"
            continue
        record = kept[record_id]
        assert record["messages"][0]["content"] == " ".join(
            [f"Explain tides {record_id[1:]}.", *(f"({m})" for m in survivors)])
        assert record["messages"][1]["content"].startswith("A long and useful answer")
        assert record["parent_id"] == record_id and record["evolution"] == survivors[-1]
        assert [a["eliminated"] for a in record["evolutions"]] == [
            None if m in survivors else "no_gain" if m == "concretize" else "apology"
            for m in drawn]
    metrics = _stage_metrics(tmp_path / "run", "evol_instruct")
    assert metrics.get("eliminated_no_gain", 0) + metrics.get("eliminated_apology", 0) == \
        eliminated


def test_evol_instruct_rejects_instructions_that_copy_the_template() -> None:
    from goldpan.generate.evol_instruct import apologetic, copied_template, only_stop_words

    assert copied_template("#Rewritten Prompt#: explain tides")
    assert not copied_template("Explain tides in two steps.")
    assert apologetic("Sorry, I can't.") and not apologetic("Sorry " + "word " * 90)
    assert only_stop_words("It is what it is.") and not only_stop_words("Tides follow the moon.")


@pytest.mark.parametrize("name", ["ultrafeedback.yaml", "evol.yaml", "magpie.yaml"])
def test_the_generation_recipes_are_valid(name: str) -> None:
    from goldpan.engine.registry import build_step
    from goldpan.recipe import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / name)
    assert recipe.input.kind == ("text" if name == "magpie.yaml" else "chat")
    for index, step in enumerate(recipe.steps):
        build_step(step, where=("steps", index))


def test_evol_recipe_runs_on_the_scripted_server(tmp_path: Path) -> None:
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import load_recipe

    source = _write_prompts(tmp_path)
    with serve(evolver) as (_, url):
        recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "evol.yaml", [
            f"input.paths=[{source}]", f"output.dir={tmp_path / 'evol'}", "workers=1",
            "steps.0.fraction=1.0", f"steps.1.llm=openai:m@{url}", "steps.1.rounds=2"])
        run_recipe(recipe)
    evolved = _jsonl(tmp_path / "evol")
    assert evolved and all(r["messages"][-1]["role"] == "assistant" for r in evolved)


PRE_QUERY = "<|im_start|>user\n"


def magpie_server(number: int, body: dict[str, Any]) -> object:
    """Raw completions of the pre-query give an instruction that depends on the seed; some
    are too short, repetitive or French; chat requests answer them."""
    if "prompt" in body:
        assert body["prompt"] == PRE_QUERY
        kind = body["seed"] % 4
        text = {0: f"How do tides depend on the moon, question {body['seed']}?",
                1: "Hi",
                2: "again and again and again and again and again",
                3: "Comment les marées dépendent-elles de la lune aujourd'hui ?"}[kind]
        return 200, {"choices": [{"text": text, "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 3, "completion_tokens": 9}}
    return ok(f"An answer to: {body['messages'][-1]['content']}")


def test_magpie_draws_instructions_from_the_template_and_filters_them(tmp_path: Path) -> None:
    from goldpan.generate.magpie import slot_sample

    with serve(magpie_server) as (server, url):
        data = {"input": {"paths": ["24"], "format": "slots"},
                "output": {"dir": str(tmp_path / "run"), "format": "jsonl"}, "workers": 1,
                "seed": 0, "steps": [{"name": "magpie", "llm": f"openai:m@{url}",
                                      "pre_query": PRE_QUERY, "max_retries": 0}]}
        _run(data)
        raw = [r for r in server.requests if "prompt" in r]
    ids = [f"slots-0:{n}" for n in range(1, 25)]
    # Every slot its own sample of the same prefix: the seed is the slot's sample.
    assert sorted(r["seed"] for r in raw) == sorted(slot_sample(i) for i in ids)
    expected = {i: {0: None, 1: "magpie:length", 2: "magpie:repetition",
                    3: "magpie:language"}[slot_sample(i) % 4] for i in ids}
    rejects = {r["id"]: r["reject_reason"] for r in read_rejects(tmp_path / "run").to_pylist()}
    assert rejects == {i: reason for i, reason in expected.items() if reason}
    kept = _jsonl(tmp_path / "run")
    assert {r["id"] for r in kept} == {i for i, reason in expected.items() if reason is None}
    for record in kept:
        question = f"How do tides depend on the moon, question {slot_sample(record['id'])}?"
        assert record["messages"] == [
            {"role": "user", "content": question},
            {"role": "assistant", "content": f"An answer to: {question}"}]


def test_magpie_on_a_chat_only_endpoint_stops_with_one_line(tmp_path: Path) -> None:
    from goldpan.errors import GoldpanError

    def chat_only(number: int, body: dict[str, Any]) -> object:
        if "prompt" in body:
            return 404, {"error": {"message": "no such endpoint"}}
        return ok("unused")

    with serve(chat_only) as (_, url):
        data = {"input": {"paths": ["3"], "format": "slots"},
                "output": {"dir": str(tmp_path / "run")}, "workers": 1,
                "steps": [{"name": "magpie", "llm": f"openai:m@{url}", "pre_query": PRE_QUERY}]}
        with pytest.raises(GoldpanError, match="chat-only endpoint cannot do"):
            _run(data)
    data["steps"][0].pop("pre_query")
    with pytest.raises(GoldpanError, match="set pre_query"):
        _run(data)


ATTRIBUTES = {"topic": ["tides", "volcanoes", "glaciers"], "length": ["short", "long"],
              "style": ["formal", "playful"]}
ATTR_TEMPLATE = "Write a {{ length }}, {{ style }} explanation of {{ topic }}."


def test_attr_prompt_draws_seeded_combinations_and_the_report_measures_diversity(
        tmp_path: Path) -> None:
    from goldpan.generate.attr_prompt import draw
    from goldpan.report import build_report, write_report
    from goldpan.report.page import Table

    with serve(script) as (_, url):
        data = {"input": {"paths": ["30"], "format": "slots"},
                "output": {"dir": str(tmp_path / "run"), "format": "parquet"}, "workers": 1,
                "seed": 3, "steps": [
                    {"name": "attr_prompt", "attributes": ATTRIBUTES, "template": ATTR_TEMPLATE},
                    {"name": "generate", "llm": f"openai:m@{url}", "append": True}]}
        _run(data)
    from tests.conftest import read_output

    kept = read_output(tmp_path / "run").to_pylist()
    assert len(kept) == 30
    for record in kept:
        chosen = draw(ATTRIBUTES, record["id"], 3)
        assert json.loads(record["attributes"]) == chosen
        assert record["messages"][0]["content"] == (
            f"Write a {chosen['length']}, {chosen['style']} explanation of {chosen['topic']}.")
        assert record["messages"][1]["role"] == "assistant"
    write_report(tmp_path / "run")
    section = next(s for s in build_report(tmp_path / "run").sections
                   if s.title == "Conversations")
    tables = {tuple(b.headers): b for b in section.blocks if isinstance(b, Table)}
    coverage = tables[("attribute", "values covered", "most used", "least used")]
    assert {row[0]: row[1] for row in coverage.rows} == {"length": 2, "style": 2, "topic": 3}
    diversity = tables[("role", "turns", "distinct-1", "distinct-2")]
    user = next(row for row in diversity.rows if row[0] == "user")
    prompts = [r["messages"][0]["content"].lower().split() for r in kept]
    assert user[2] == round(len({w for p in prompts for w in p}) / sum(map(len, prompts)), 4)


def test_attr_prompt_proposes_values_once_and_freezes_them(tmp_path: Path) -> None:
    def proposer(number: int, body: dict[str, Any]) -> object:
        dimension = re.search(r'attribute "(\w+)"', body["messages"][-1]["content"]).group(1)
        return ok("\n".join(f"{n}. {dimension} value {n}" for n in range(1, 5)) + "\n2. dup")

    with serve(proposer) as (server, url):
        data = {"input": {"paths": ["10"], "format": "slots"},
                "output": {"dir": str(tmp_path / "run"), "format": "jsonl"}, "workers": 1,
                "steps": [{"name": "attr_prompt", "llm": f"openai:m@{url}",
                           "template": "A {{ mood }} story set in {{ place }}.",
                           "propose": {"task": "short stories", "dimensions": ["mood", "place"],
                                       "values": 3}}]}
        _run(data)
        assert len(server.requests) == 2
        frozen = list((tmp_path / "run" / "cache").glob("attributes-*.json"))
        assert len(frozen) == 1
        assert json.loads(frozen[0].read_text()) == {
            "mood": ["mood value 1", "mood value 2", "mood value 3"],
            "place": ["place value 1", "place value 2", "place value 3"]}
        data["output"]["dir"] = str(tmp_path / "run")
        data["steps"][0]["temperature"] = 0.5  # a changed step: redone, from the frozen values
        _run(data)
        assert len(server.requests) == 2
    assert all(re.fullmatch(r"A mood value \d story set in place value \d\.",
                            r["messages"][0]["content"]) for r in _jsonl(tmp_path / "run"))


def universal(number: int, body: dict[str, Any]) -> object:
    """One scripted server for every generation step's prompts."""
    if "prompt" in body:
        return magpie_server(number, body)
    prompt = body["messages"][-1]["content"]
    if prompt.startswith(("Are these two", "You rewrite prompts", "You write new prompts")):
        return evolver(number, body)
    if prompt.startswith(("Here is a request", "Point out", "Rewrite the assistant")):
        return refiner(number, body)
    if "List " in prompt and "attribute" in prompt:
        return ok("calm\nstormy\nfoggy")
    return script(number, body)


STEP_RUNS: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    "generate+rate+pairs": ({"kind": "chat"}, [
        {"name": "generate", "llm": ["openai:alpha@URL", "openai:beta@URL"], "n": 2},
        {"name": "rate", "llm": "openai:judge@URL"}, {"name": "preference_pairs"}]),
    "evol_instruct": ({"kind": "chat"}, [{"name": "evol_instruct", "llm": "openai:m@URL",
                                          "rounds": 2}]),
    "self_refine": ({"kind": "chat"}, [{"name": "self_refine", "llm": "openai:m@URL"}]),
    "critique_revise": ({"kind": "chat"}, [
        {"name": "generate", "llm": "openai:m@URL", "append": True},
        {"name": "critique_revise", "llm": "openai:m@URL"}]),
    "magpie": ({"format": "slots", "paths": ["12"]}, [
        {"name": "magpie", "llm": "openai:m@URL", "pre_query": PRE_QUERY}]),
    "attr_prompt": ({"format": "slots", "paths": ["12"]}, [
        {"name": "attr_prompt", "llm": "openai:m@URL", "template": "A {{ sky }} day.",
         "propose": {"task": "weather reports", "dimensions": ["sky"], "values": 3}},
        {"name": "generate", "llm": "openai:m@URL", "append": True}]),
}


@pytest.mark.parametrize("name", sorted(STEP_RUNS))
def test_every_generation_step_asks_nothing_twice(tmp_path: Path, name: str) -> None:
    """The same recipe in a new run directory on the same cache sends no request, and gives
    the same records."""
    source = _write_prompts(tmp_path)
    input_fields, steps = STEP_RUNS[name]
    with serve(universal) as (server, url):
        def recipe(out: str) -> dict[str, Any]:
            concrete = json.loads(json.dumps(steps).replace("URL", url))
            for step in concrete:
                if step["name"] != "preference_pairs":
                    step["cache"] = str(tmp_path / "llm.sqlite")
            return {"input": {"paths": [str(source)], "id_field": "id", **input_fields},
                    "output": {"dir": str(tmp_path / out), "format": "jsonl"}, "workers": 1,
                    "steps": concrete}

        _run(recipe("first"))
        asked = len(server.requests)
        assert asked > 0
        _run(recipe("second"))
        assert len(server.requests) == asked
    assert _jsonl(tmp_path / "first") == _jsonl(tmp_path / "second")


def test_a_rating_is_one_digit_and_an_echoed_scale_is_none() -> None:
    from goldpan.generate.rubrics import parse_rating, parse_together

    assert parse_rating("Rating: 4\nRationale: clear.") == 4.0
    assert parse_rating("Rating: **3**") == 3.0
    for echoed in ("Rating: 1-5", "Rating: **1-5**", "Rating: N/A", "Rating: 12", "no rating"):
        assert parse_rating(echoed) is None
    answer = "#### Output for Text 2\nRating: 2\n\n#### Output for Text 1\nRating: 5"
    assert parse_together(answer, 3) == [5.0, 2.0, None]


def test_a_prefilled_judge_answer_is_continued_and_parsed_with_its_prefill(tmp_path: Path
                                                                          ) -> None:
    def continuing(number: int, body: dict[str, Any]) -> object:
        last = body["messages"][-1]
        if last["role"] == "assistant":  # the judge continues "Rating:"
            assert body["continue_final_message"] is True
            assert body["add_generation_prompt"] is False
            return ok(" 4\nRationale: scripted.")
        return script(number, body)

    source = _write_prompts(tmp_path)
    with serve(continuing) as (_, url):
        data = _recipe(source, tmp_path / "run", url)
        data["steps"][1]["prefill"] = "Rating:"
        data["steps"] = data["steps"][:2]
        _run(data)
    ratings = [r["ratings"] for r in _jsonl(tmp_path / "run")]
    assert all(rating["mean"] == 4.0 for row in ratings for rating in row)


def test_local_models_take_conversations_prefills_and_base_model_dialogues(tiny_lm: Path
                                                                         ) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from goldpan.llm.params import GenerationParams
    from goldpan.llm.transformers_backend import TransformersBackend
    from goldpan.models.chat_tokens import template_text

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    backend = TransformersBackend.from_objects(
        "tiny", AutoModelForCausalLM.from_pretrained(tiny_lm), tokenizer)
    params = GenerationParams()
    asked = [{"role": "user", "content": "Rate this."}]
    # A base model (no template) continues the conversation as a dialogue.
    assert backend.render(asked, params) == "User: Rate this.\n\nAssistant:"
    tokenizer.chat_template = template_text("smollm2-generation")
    opened = backend.render(asked, params)
    assert opened.endswith("<|im_start|>user\nRate this.<|im_end|>\n<|im_start|>assistant\n")
    prefilled = backend.render([*asked, {"role": "assistant", "content": "Rating:"}], params)
    assert prefilled == opened + "Rating:"
