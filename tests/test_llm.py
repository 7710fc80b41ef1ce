"""Generation backends: the OpenAI-compatible client against a real local HTTP server with
injected faults, the local transformers backend on a tiny random model, and the cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from goldpan.errors import GoldpanError
from goldpan.llm import GenerationParams, make_backend, make_llm
from goldpan.llm.transformers_backend import cut_at_stop
from tests.openai_server import ok, serve

FAST_RETRIES = {"backoff": 0.01, "max_backoff": 0.05, "max_retries": 3, "timeout": 2.0}


def generate(url: str, prompts: list[str], cache: Path | None = None, n: int = 1, **options):
    llm = make_llm(f"openai:test-model@{url}", cache, **{**FAST_RETRIES, **options})
    return llm, llm.generate(prompts, GenerationParams(n=n, max_new_tokens=16))


def test_a_429_is_retried_and_then_succeeds() -> None:
    replies = [(429, {"error": {"message": "slow down"}}), ok("hello")]
    with serve(lambda n, body: replies[n]) as (fake, url):
        llm, results = generate(url, ["Say hello"])
    assert results[0][0].text == "hello"
    assert len(fake.requests) == 2
    assert llm.usage.requests == 1 and llm.usage.completion_tokens == 3


def test_repeated_server_errors_give_up_with_one_line_after_the_retries() -> None:
    overloaded = (503, {"error": "overloaded"})
    with serve(lambda n, body: overloaded) as (fake, url), pytest.raises(GoldpanError) as error:
        generate(url, ["Say hello"])
    assert len(fake.requests) == FAST_RETRIES["max_retries"] + 1
    assert "gave up after 4 attempts (HTTP 503)" in str(error.value)
    assert "\n" not in str(error.value)


def test_a_timeout_is_retried() -> None:
    replies = [("sleep", 1.0, ok("late")), ok("in time")]
    with serve(lambda n, body: replies[n]) as (fake, url):
        _, results = generate(url, ["Say hello"], timeout=0.3)
    assert results[0][0].text == "in time"
    assert len(fake.requests) == 2


def test_a_server_that_always_times_out_is_reported_as_such() -> None:
    slow = ("sleep", 0.6, ok("late"))
    timed_out = pytest.raises(GoldpanError, match=r"timed out after 0.2 s")
    with serve(lambda n, body: slow) as (fake, url), timed_out:
        generate(url, ["Say hello"], timeout=0.2, max_retries=1)
    assert len(fake.requests) == 2


def test_malformed_json_stops_at_once_with_a_clear_error() -> None:
    malformed = pytest.raises(GoldpanError, match="malformed response")
    with serve(lambda n, body: (200, b"{not json")) as (fake, url), malformed:
        generate(url, ["Say hello"])
    assert len(fake.requests) == 1


def test_a_reply_without_choices_is_malformed() -> None:
    malformed = pytest.raises(GoldpanError, match=r"malformed response \(no choices\[0\] text\)")
    with serve(lambda n, body: (200, {"object": "chat.completion"})) as (_, url), malformed:
        generate(url, ["Say hello"])


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_errors_are_not_retried_and_name_the_status_and_message(status: int) -> None:
    reply = (status, {"error": {"message": "Incorrect API key provided"}})
    with serve(lambda n, body: reply) as (fake, url), pytest.raises(GoldpanError) as error:
        generate(url, ["Say hello"])
    assert len(fake.requests) == 1
    message = str(error.value)
    assert f"HTTP {status}" in message and "Incorrect API key provided" in message
    assert "\n" not in message


def test_a_rerun_is_served_from_the_cache_without_a_request(tmp_path: Path) -> None:
    with serve(lambda n, body: ok(f"answer {n}")) as (fake, url):
        _, first = generate(url, ["a", "b"], cache=tmp_path / "cache.sqlite", n=2)
        assert len(fake.requests) == 4
        llm, second = generate(url, ["a", "b"], cache=tmp_path / "cache.sqlite", n=2)
        assert len(fake.requests) == 4  # nothing new reached the server
    assert [[c.text for c in row] for row in second] == [[c.text for c in row] for row in first]
    assert llm.usage.cache_hits == 4 and llm.usage.requests == 0


def test_a_served_model_with_other_weights_is_asked_again_not_read_from_the_cache(
    tmp_path: Path,
) -> None:
    """A server answers to the same name whatever it serves: with the weights named, the cache
    tells a teacher updated by DPO from the one before it."""
    params = GenerationParams(max_new_tokens=8)
    cache = tmp_path / "cache.sqlite"
    with serve(lambda n, body: ok(f"answer {n}")) as (fake, url):
        for weights, asked in (("teacher-0", 1), ("teacher-0", 1), ("teacher-1", 2)):
            make_llm(f"openai:teacher@{url}", cache, weights=weights).generate(["Q"], params)
            assert len(fake.requests) == asked, weights
        make_llm(f"openai:teacher@{url}", cache).generate(["Q"], params)  # no weights named
        assert len(fake.requests) == 3


def test_an_interrupted_generation_resumes_where_it_stopped(tmp_path: Path) -> None:
    prompts = [f"prompt {i}" for i in range(6)]
    broken = lambda n, body: ok(body["messages"][0]["content"]) if n < 3 else (401, {})  # noqa: E731
    with serve(broken) as (fake, url), pytest.raises(GoldpanError):
        generate(url, prompts, cache=tmp_path / "c.sqlite", concurrency=1)
    with serve(lambda n, body: ok(body["messages"][0]["content"])) as (fake, url):
        llm, results = generate(url, prompts, cache=tmp_path / "c.sqlite", concurrency=1)
    assert [row[0].text for row in results] == prompts
    assert llm.usage.cache_hits == 3 and len(fake.requests) == 3


def test_requests_carry_the_parameters_and_respect_the_concurrency_limit() -> None:
    with serve(lambda n, body: ("sleep", 0.05, ok("x"))) as (fake, url):
        llm = make_llm(f"openai:m@{url}", None, concurrency=3, **FAST_RETRIES)
        params = GenerationParams(n=2, temperature=0.7, top_p=0.9, seed=10, stop=("\n\n",))
        llm.generate([f"p{i}" for i in range(6)], params)
    assert fake.most_in_flight <= 3 and len(fake.requests) == 12
    assert {r["seed"] for r in fake.requests} == {10, 11}  # sample i draws with seed + i
    first = fake.requests[0]
    assert first["model"] == "m" and first["temperature"] == 0.7 and first["top_p"] == 0.9
    assert first["stop"] == ["\n\n"] and first["messages"][0]["role"] == "user"
    assert all(path == "/v1/chat/completions" for path in fake.paths)


def test_raw_prompts_use_the_completions_endpoint() -> None:
    reply = (200, {"choices": [{"text": " world", "finish_reason": "length"}]})
    with serve(lambda n, body: reply) as (fake, url):
        llm = make_llm(f"openai:m@{url}", None, **FAST_RETRIES)
        result = llm.generate(["hello"], GenerationParams(chat=False))[0][0]
    assert fake.paths == ["/v1/completions"] and fake.requests[0]["prompt"] == "hello"
    assert result.text == " world" and result.finish_reason == "length"


def test_an_openai_spec_without_a_server_address_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(GoldpanError, match="openai:MODEL@BASE_URL"):
        make_backend("openai:gpt-test")


# ---------------------------------------------------------------- local transformers backend
def test_local_generation_is_batched_reproducible_and_cached(tiny_lm: Path, tmp_path: Path) -> None:
    params = GenerationParams(n=2, max_new_tokens=12, temperature=1.0, seed=3, chat=False)
    prompts = ["The city council", "A short story about", "Rain"]
    llm = make_llm(str(tiny_lm), tmp_path / "cache.sqlite", batch_size=2)
    first = llm.generate(prompts, params)
    assert [len(row) for row in first] == [2, 2, 2]
    assert all(0 < c.completion_tokens <= 12 for row in first for c in row)
    assert llm.usage.requests == 6 and llm.usage.completion_tokens > 0
    again = make_llm(str(tiny_lm), None, batch_size=2).generate(prompts, params)
    assert [[c.text for c in row] for row in again] == [[c.text for c in row] for row in first]
    cached = make_llm(str(tiny_lm), tmp_path / "cache.sqlite", batch_size=2)
    cached.generate(prompts, params)
    assert cached.usage.requests == 0 and cached.usage.cache_hits == 6


def test_greedy_generation_does_not_depend_on_batch_mates(tiny_lm: Path) -> None:
    params = GenerationParams(max_new_tokens=10, temperature=0.0, chat=False)
    alone = make_llm(str(tiny_lm), batch_size=1).texts(["Stocks fell sharply"], params)
    together = make_llm(str(tiny_lm), batch_size=4).texts(
        ["Stocks fell sharply", "A much longer prompt with many more words in it"], params
    )
    assert together[0] == alone[0]


def test_log_probabilities_come_one_per_generated_token(tiny_lm: Path) -> None:
    params = GenerationParams(max_new_tokens=8, temperature=0.0, logprobs=True, chat=False)
    completion = make_llm(str(tiny_lm)).generate(["The"], params)[0][0]
    assert completion.logprobs is not None
    assert len(completion.logprobs) == completion.completion_tokens
    assert all(value <= 0 for value in completion.logprobs)


def test_presence_penalty_changes_what_is_generated(tiny_lm: Path) -> None:
    base = GenerationParams(max_new_tokens=24, temperature=0.0, chat=False)
    plain = make_llm(str(tiny_lm)).texts(["The"], base)[0][0]
    penalised = make_llm(str(tiny_lm)).texts(
        ["The"], GenerationParams(**{**base.__dict__, "presence_penalty": 5.0})
    )[0][0]
    assert plain != penalised


def test_chat_models_get_their_template(tiny_lm: Path, tmp_path: Path) -> None:
    folder = tmp_path / "chat-lm"
    shutil.copytree(tiny_lm, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    backend = make_backend(str(folder))
    rendered = backend.render("Name a colour.", GenerationParams(chat=True))  # type: ignore[attr-defined]
    assert rendered == "<|user|>Name a colour.\n<|assistant|>"
    assert backend.render("Name a colour.", GenerationParams(chat=False)) == "Name a colour."  # type: ignore[attr-defined]


def test_stop_strings_end_the_text_before_the_stop() -> None:
    assert cut_at_stop("1. first\n2. second", ["\n2."]) == ("1. first", True)
    assert cut_at_stop("no stop here", ["###"]) == ("no stop here", False)
    assert cut_at_stop("a;b|c", [";", "|"]) == ("a", True)


@pytest.mark.slow
def test_the_embedded_smollm2_answers_a_chat_prompt_locally() -> None:
    params = GenerationParams(max_new_tokens=24, temperature=0.0, logprobs=True)
    llm = make_llm("smollm2-135m-instruct")
    completion = llm.generate(["What is the capital of France? Answer in one word."], params)[0][0]
    assert completion.text.strip()
    assert "<|im_start|>" not in completion.text  # the chat template wrapped the prompt
    assert completion.logprobs is not None
    assert len(completion.logprobs) == completion.completion_tokens
    assert completion.prompt_tokens > 10 and llm.usage.completion_tokens > 0


def test_a_model_retrained_in_place_is_not_served_its_old_generations(
    tiny_lm: Path, tmp_path: Path
) -> None:
    import os

    folder = tmp_path / "teacher"
    shutil.copytree(tiny_lm, folder)
    params = GenerationParams(max_new_tokens=4, temperature=0.0, chat=False)
    make_llm(str(folder), tmp_path / "cache.sqlite").generate(["The"], params)
    weights = next(folder.glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    again = make_llm(str(folder), tmp_path / "cache.sqlite")
    again.generate(["The"], params)
    assert again.usage.requests == 1 and again.usage.cache_hits == 0
