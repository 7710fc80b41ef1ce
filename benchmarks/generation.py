"""Generation at a server's pace: goldpan's generate and rate steps against distilabel's
TextGeneration and UltraFeedback on the same loopback server, which answers every request after
a fixed latency (200 ms by default), as a remote model server would.

The pipeline on both sides: each prompt answered by two models, then the two answers rated
together on one aspect (UltraFeedback's instruction following) by a judge. Requests per side:
3 x prompts. At the same concurrency C per model (goldpan: each backend's ``concurrency``, the
two models asked at once; distilabel: ``input_batch_size`` C, its two generation steps running
in parallel as its pipelines do), the ideal wall time is the generation phase (2 x prompts
requests, 2C at a time) plus the rating phase (prompts requests, C at a time), each request
taking the latency.

Printed: wall time against that ideal, requests per second and their ratio; goldpan's token
counts and cost against the server's own tally.

    python benchmarks/generation.py [--prompts 400] [--concurrency 16] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.openai_server import ok, serve  # the tests' scripted server

PRICE_PROMPT, PRICE_COMPLETION = 0.5, 1.5  # per million tokens, for the cost check


class Tally:
    """What the server answered: requests and tokens, for the accounting check."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = self.prompt_tokens = self.completion_tokens = 0

    def count(self, prompt: int, completion: int) -> None:
        with self.lock:
            self.requests += 1
            self.prompt_tokens += prompt
            self.completion_tokens += completion


def make_script(latency: float, tally: Tally) -> Any:
    def script(number: int, body: dict[str, Any]) -> object:
        text = body["messages"][-1]["content"]
        prompt_tokens, completion_tokens = len(text.split()), 24
        if "<text 1>" in text or "<text 2>" in text:  # a rating request (either side's form)
            answer = "\n\n".join(f"#### Output for Text {k}\nRating: {3 + k % 2}\n"
                                 "Rationale: scripted." for k in (1, 2))
        else:
            answer = f"{body['model']} answers: " + " ".join(["word"] * 20)
        tally.count(prompt_tokens, completion_tokens)
        return ("sleep", latency, ok(answer, prompt_tokens, completion_tokens))
    return script


def prompts(count: int) -> list[str]:
    from goldpan.data.demo_corpus import user_turns

    out = []
    for text in user_turns():
        if 5 <= len(text.split()) <= 60:
            out.append(text)
        if len(out) == count:
            return out
    raise SystemExit(f"only {len(out)} short ShareGPT prompts")


def goldpan_side(texts: list[str], url: str, concurrency: int, scratch: Path) -> float:
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    source = scratch / "prompts.jsonl"
    source.write_text("".join(json.dumps({"id": f"p{i}", "messages": [
        {"role": "user", "content": t}]}) + "\n" for i, t in enumerate(texts)))
    call = {"concurrency": concurrency, "max_retries": 0,
            "price_per_million_prompt_tokens": PRICE_PROMPT,
            "price_per_million_completion_tokens": PRICE_COMPLETION}
    recipe = parse_recipe({
        "input": {"paths": [str(source)], "kind": "chat", "id_field": "id",
                  "part_records": len(texts)},
        "output": {"dir": str(scratch / "run"), "format": "jsonl"}, "workers": 1,
        "steps": [
            {"name": "generate", "llm": [f"openai:alpha@{url}", f"openai:beta@{url}"],
             "max_new_tokens": 64, **call},
            {"name": "rate", "llm": f"openai:judge@{url}", "aspects": ["instruction_following"],
             "together": True, **call},
        ]})
    started = time.perf_counter()
    run_recipe(recipe)
    return time.perf_counter() - started


def goldpan_accounting(scratch: Path) -> dict[str, float]:
    stats = json.loads((scratch / "run" / "stats.json").read_text())
    totals: dict[str, float] = {}
    for stage in stats["stages"]:
        for name, value in (stage.get("metrics") or {}).items():
            totals[name] = totals.get(name, 0) + value
    return totals


def distilabel_side(texts: list[str], url: str, concurrency: int) -> float:
    from distilabel.models.llms import OpenAILLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps import GroupColumns, LoadDataFromDicts
    from distilabel.steps.tasks import TextGeneration, UltraFeedback

    def llm(model: str) -> Any:
        return OpenAILLM(model=model, base_url=url, api_key="unused", max_retries=0,
                         generation_kwargs={"max_new_tokens": 64})

    with Pipeline(name="goldpan-benchmark") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": t} for t in texts],
                                 batch_size=concurrency)
        generators = [TextGeneration(llm=llm(m), input_batch_size=concurrency)
                      for m in ("alpha", "beta")]
        group = GroupColumns(columns=["generation", "model_name"],
                             output_columns=["generations", "model_names"])
        rate = UltraFeedback(llm=llm("judge"), aspect="instruction-following",
                             input_batch_size=concurrency)
        load >> generators >> group >> rate
    started = time.perf_counter()
    distiset = pipeline.run(use_cache=False)
    seconds = time.perf_counter() - started
    rows = distiset["default"]["train"]
    assert len(rows) == len(texts), f"distilabel kept {len(rows)} of {len(texts)}"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    texts = prompts(args.prompts)
    n, c, latency = len(texts), args.concurrency, args.latency
    ideal = (math.ceil(2 * n / (2 * c)) + math.ceil(n / c)) * latency
    requests = 3 * n
    print(f"{n} ShareGPT prompts, 2 models + 1 judge, {requests} requests, concurrency {c} per "
          f"model, {latency * 1000:.0f} ms per request; ideal {ideal:.2f} s")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        tally = Tally()
        with serve(make_script(latency, tally)) as (_, url):
            results["goldpan"] = goldpan_side(texts, url, c, Path(folder))
            assert tally.requests == requests, tally.requests
            accounting = goldpan_accounting(Path(folder))
        server_cost = (tally.prompt_tokens * PRICE_PROMPT
                       + tally.completion_tokens * PRICE_COMPLETION) / 1e6
        print(f"goldpan accounting: {accounting['requests']:.0f} requests, "
              f"{accounting['prompt_tokens']:.0f} + {accounting['completion_tokens']:.0f} "
              f"tokens, cost {accounting['cost']:.6f}; server: {tally.requests} requests, "
              f"{tally.prompt_tokens} + {tally.completion_tokens} tokens, cost {server_cost:.6f}")
        assert accounting["requests"] == tally.requests
        assert accounting["prompt_tokens"] == tally.prompt_tokens
        assert accounting["completion_tokens"] == tally.completion_tokens
        assert math.isclose(accounting["cost"], server_cost, rel_tol=1e-9)
    tally = Tally()
    with serve(make_script(latency, tally)) as (_, url):
        results["distilabel"] = distilabel_side(texts, url, c)
        distilabel_requests = tally.requests
    for name, seconds in results.items():
        sent = requests if name == "goldpan" else distilabel_requests
        print(f"{name:11s} {seconds:7.2f} s  {seconds / ideal:5.2f}x ideal  "
              f"{sent / seconds:7.1f} requests/s  ({sent} requests)")
    ratio = (requests / results["goldpan"]) / (distilabel_requests / results["distilabel"])
    print(f"goldpan / distilabel requests per second: {ratio:.2f}x")


if __name__ == "__main__":
    main()
