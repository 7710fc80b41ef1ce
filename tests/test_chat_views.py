"""The engine's views, step by step: every step decides on a conversation exactly as it decides
on a document holding the text of the conversation's view, and a rewriting step rewrites each
turn exactly as it rewrites that turn alone. Nothing in the steps knows about conversations;
this is what makes that true."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import read_output, read_rejects
from tests.openai_server import serve

VIEW_ROLES = {"user": {"user"}, "assistant": {"assistant"}, "all": None}


def _demo_chats(count: int = 60) -> list[dict[str, Any]]:
    """ShareGPT conversations in OpenAI's layout, two sources, and exact copies of a few."""
    from goldpan.data.chat_layouts import BadConversation, chat_from_row
    from goldpan.data.demo_chat import sharegpt_items

    rows = []
    for number, item in enumerate(itertools.islice(sharegpt_items(), count * 2)):
        try:
            turns = chat_from_row(item, "sharegpt")
        except BadConversation:
            continue
        if turns:
            rows.append({"id": f"sg-{number}", "source": "odd" if number % 2 else "even",
                         "messages": turns})
        if len(rows) == count:
            break
    rows += [{**rows[i], "id": f"copy-{i}"} for i in (1, 5, 9)]
    return rows


def _joined(turns: list[dict[str, Any]], view: str) -> str:
    roles = VIEW_ROLES[view]
    return "\n\n".join(t["content"] for t in turns if roles is None or t["role"] in roles)


def _run(tmp_path: Path, name: str, rows: list[dict[str, Any]], kind: str,
         steps: list[dict[str, Any]]) -> Path:
    from goldpan.engine.ledger import verify_run
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    source = tmp_path / f"{name}.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / name
    run_recipe(parse_recipe({"input": {"paths": [str(source)], "kind": kind, "id_field": "id"},
                             "output": {"dir": str(out)}, "workers": 1, "steps": steps}))
    assert verify_run(out)[0] == []
    return out


def _outcome(run: Path, columns: list[str]) -> tuple[dict[str, str], dict[str, tuple]]:
    rejects = read_rejects(run)
    reasons = dict(zip(rejects.column("id").to_pylist(),
                       rejects.column("reject_reason").to_pylist(), strict=True)) \
        if rejects.num_rows else {}
    kept = read_output(run)
    values = {}
    for row in kept.to_pylist():
        values[row["id"]] = tuple(row.get(c) for c in columns)
    return reasons, values


def _same(a: dict[str, tuple], b: dict[str, tuple]) -> bool:
    if set(a) != set(b):
        return False
    for key in a:
        for x, y in zip(a[key], b[key], strict=True):
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-6):
                    return False
            elif x != y:
                return False
    return True


def judge_by_length(number: int, body: dict) -> object:
    """A judge whose answer depends on the text it was shown (its length): a grade, or for a
    quarter of the texts an answer it cannot parse."""
    from tests.openai_server import ok

    length = len(body["messages"][0]["content"])
    if length % 4 == 0:
        return ok("I would rather not say.")
    return ok(f"Educational score: {length % 6}")


def _fasttext_model(folder: Path) -> Path:
    """fastText told Wikipedia from Markov text, on the embedded corpus."""
    import fasttext

    from goldpan.data.demo_corpus import markov, wikipedia

    lines = [f"__label__wiki {d['text']}" for d in itertools.islice(wikipedia("en"), 200)]
    lines += [f"__label__markov {d['text']}" for d in itertools.islice(markov(), 200)]
    training = folder / "train.txt"
    training.write_text("\n".join(line.replace("\n", " ") for line in lines) + "\n")
    for attempt in range(3):  # this fastText build now and then reports NaN: try again
        try:
            model = fasttext.train_supervised(str(training), epoch=25, lr=0.5 / (attempt + 1),
                                              dim=16, thread=1, verbose=0, wordNgrams=2,
                                              seed=attempt)
            break
        except RuntimeError:
            if attempt == 2:
                raise
    path = folder / "wiki.bin"
    model.save_model(str(path))
    return path


def _quality_examples(folder: Path) -> dict[str, Any]:
    from goldpan.data.demo_corpus import markov, wikipedia

    positive, negative = folder / "good.jsonl", folder / "bad.jsonl"
    positive.write_text("".join(json.dumps({"text": d["text"]}) + "\n" for d in
                                itertools.islice(wikipedia("en"), 200)))
    negative.write_text("".join(json.dumps({"text": d["text"]}) + "\n" for d in
                                itertools.islice(markov(), 200)))
    return {"positive": {"paths": [str(positive)]}, "negative": {"paths": [str(negative)]},
            "min_score": 0.5}


# The step, its options, the view it reads unless told, and the columns it adds to compare.
DECIDING: list[tuple[str, dict[str, Any], str, list[str]]] = [
    ("length_filter", {"min_words": 40}, "assistant", []),
    ("sample", {"fraction": 0.5}, "all", []),
    ("langid", {"languages": ["en"], "threshold": 0.8}, "all", ["lang", "lang_score"]),
    ("gopher_quality", {}, "assistant", []),
    ("gopher_repetition", {}, "assistant", []),
    ("c4_badwords", {}, "assistant", []),
    ("fineweb_quality", {}, "assistant", []),
    ("exact_dedup", {}, "user", []),
    ("minhash_dedup", {}, "user", ["minhash_cluster"]),
    ("semantic_dedup", {"n_clusters": 4, "eps": 0.3}, "user", []),
    ("decontaminate", {"benchmarks": "BENCH"}, "user", []),
    ("select", {"mode": "random", "fraction": 0.5}, "all", []),
    ("mix", {"shares": {"odd": 1, "even": 1}, "budget_tokens": 4000}, "all", ["mix_repeats"]),
    ("lm_score", {"model": "TINY_LM", "max_length": 32, "stride": 16}, "assistant",
     ["fwd_loss", "n_tokens"]),
    ("quality_classifier", {"examples": True}, "assistant", ["quality_score"]),
    ("classify", {"models": "FASTTEXT", "min_score": 0.5}, "assistant", ["wiki"]),
    ("llm_judge", {"llm": "JUDGE"}, "assistant", ["judge_score"]),
]
# Steps compared on their default view only (the others on `on: all` too).
DEFAULT_ONLY = {"classify", "llm_judge"}


# Steps that reject some of these conversations (the others keep all of them, on either side).
REJECTS_SOME = {"length_filter", "sample", "langid", "exact_dedup", "decontaminate", "select",
                "mix", "quality_classifier", "gopher_quality", "fineweb_quality", "classify",
                "llm_judge"}
CASES = [(*case, explicit) for case in DECIDING for explicit in (False, True)
         if not (explicit and (case[2] == "all" or case[0] in DEFAULT_ONLY))]


@pytest.mark.parametrize(("step", "options", "default_view", "columns", "explicit"), CASES,
                         ids=[f"{c[0]}-{'on-all' if c[4] else 'default'}" for c in CASES])
def test_a_step_decides_on_a_conversation_as_on_the_text_of_its_view(
        tmp_path: Path, tiny_lm: Path, step: str, options: dict[str, Any], default_view: str,
        columns: list[str], explicit: bool) -> None:
    options = dict(options)
    if options.get("benchmarks") == "BENCH":
        bench = tmp_path / "bench.jsonl"
        chats = _demo_chats()
        bench.write_text("".join(json.dumps({"q": c["messages"][0]["content"]}) + "\n"
                                 for c in chats[:40:7]))
        options["benchmarks"] = [{"name": "bench", "path": str(bench), "fields": ["q"]}]
    if options.get("model") == "TINY_LM":
        options["model"] = str(tiny_lm)
    if options.pop("examples", False):
        options.update(_quality_examples(tmp_path))
    if options.get("models") == "FASTTEXT":
        options["models"] = [{"path": str(_fasttext_model(tmp_path)), "label": "wiki",
                              "column": "wiki"}]
    if options.get("llm") == "JUDGE":
        with serve(judge_by_length) as (_, url):
            options.update(llm=f"openai:judge@{url}", max_retries=1, timeout=5.0)
            _compare(tmp_path, step, options, default_view, columns, explicit)
        return
    _compare(tmp_path, step, options, default_view, columns, explicit)


def _compare(tmp_path: Path, step: str, options: dict[str, Any], default_view: str,
             columns: list[str], explicit: bool) -> None:
    view = "all" if explicit else default_view
    chats = _demo_chats()
    texts = [{"id": c["id"], "source": c["source"], "text": _joined(c["messages"], view)}
             for c in chats]
    chat_step = {"name": step, **options, **({"on": "all"} if explicit else {})}
    chat_run = _run(tmp_path, "chat", chats, "chat", [chat_step])
    text_run = _run(tmp_path, "text", texts, "text", [{"name": step, **options}])
    chat_reasons, chat_values = _outcome(chat_run, columns)
    text_reasons, text_values = _outcome(text_run, columns)
    assert chat_reasons == text_reasons
    assert _same(chat_values, text_values)
    assert chat_values, "the step kept nothing: the comparison would say little"
    if step in REJECTS_SOME and not explicit:
        assert chat_reasons, "the step rejected nothing: the comparison would say little"
    assert set(chat_reasons) | set(chat_values) == {c["id"] for c in chats}


REWRITING: list[tuple[str, dict[str, Any]]] = [
    ("pii", {}),
    ("normalize", {}),
    ("c4_quality", {"min_sentences": 1}),
    ("line_dedup", {}),
    ("decontaminate", {"mode": "cut", "min_chars_after_cut": 0, "benchmarks": "BENCH"}),
]


@pytest.mark.parametrize(("step", "options"), REWRITING, ids=[r[0] for r in REWRITING])
def test_a_rewriting_step_rewrites_each_turn_as_it_rewrites_that_turn_alone(
        tmp_path: Path, step: str, options: dict[str, Any]) -> None:
    """The chat run with on: all against a text run of one document per turn."""
    chats = _demo_chats()
    chats[0]["messages"][0]["content"] += " Mail me at ana.ruiz@example.com or call 415 555 0134."
    options = dict(options)
    if options.get("benchmarks") == "BENCH":
        bench = tmp_path / "bench.jsonl"
        bench.write_text(json.dumps({"q": chats[2]["messages"][1]["content"]}) + "\n")
        options["benchmarks"] = [{"name": "bench", "path": str(bench), "fields": ["q"]}]
    turns = [{"id": f"{c['id']}#{n}", "source": c["source"], "text": t["content"]}
             for c in chats for n, t in enumerate(c["messages"])]
    chat_run = _run(tmp_path, "chat", chats, "chat", [{"name": step, **options, "on": "all"}])
    text_run = _run(tmp_path, "text", turns, "text", [{"name": step, **options}])
    text_reasons, _ = _outcome(text_run, [])
    rewritten = dict(zip(read_output(text_run).column("id").to_pylist(),
                         read_output(text_run).column("text").to_pylist(), strict=True))
    chat_reasons, _ = _outcome(chat_run, [])
    # A conversation is rejected when one of its turns is, with the first such turn's reason.
    expected_rejects: dict[str, str] = {}
    for turn_id, reason in sorted(text_reasons.items(),
                                  key=lambda kv: (kv[0].split("#")[0], int(kv[0].split("#")[1]))):
        expected_rejects.setdefault(turn_id.split("#")[0], reason)
    assert chat_reasons == expected_rejects
    from goldpan.data.chat_records import conversations

    kept = read_output(chat_run)
    for record_id, turns_out in zip(kept.column("id").to_pylist(),
                                    conversations(kept.column("messages")), strict=True):
        assert [t["content"] for t in turns_out] == [
            rewritten[f"{record_id}#{n}"] for n in range(len(turns_out))]
    if step == "pii":
        first = next(c for i, c in zip(kept.column("id").to_pylist(),
                                      conversations(kept.column("messages")), strict=True)
                     if i == chats[0]["id"])
        assert "ana.ruiz@example.com" not in first[0]["content"]


def test_a_chat_recipe_gives_the_same_output_on_ray_and_in_parts(tmp_path: Path) -> None:
    """Views run inside the tasks every executor runs: Ray, the local pool over many parts,
    and one process agree, and a rerun resumes to the same output."""
    from goldpan.engine.ledger import verify_run
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    chats = _demo_chats()
    source = tmp_path / "chats.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in chats), encoding="utf-8")
    steps = [{"name": "chat_filter"}, {"name": "pii"}, {"name": "exact_dedup"},
             {"name": "minhash_dedup", "on": "user"}, {"name": "length_filter", "min_words": 20}]

    def run(name: str, executor: str, workers: int, part_records: int) -> Path:
        out = tmp_path / name
        run_recipe(parse_recipe({
            "input": {"paths": [str(source)], "kind": "chat", "id_field": "id",
                      "part_records": part_records},
            "output": {"dir": str(out)}, "executor": executor, "workers": workers,
            "steps": steps}))
        assert verify_run(out)[0] == []
        return out

    one = run("one", "local", 1, 1000)
    parts = run("parts", "local", 2, 7)
    ray = run("ray", "ray", 2, 7)
    expected = _outcome(one, ["messages", "pii_email"])
    assert expected[1]
    for other in (parts, ray):
        assert _outcome(other, ["messages", "pii_email"]) == expected
    run("parts", "local", 2, 7)  # resumed: every part done
    assert _outcome(parts, ["messages", "pii_email"]) == expected


def test_reverse_scores_of_conversations_are_those_of_their_answers(tmp_path: Path,
                                                                    tiny_lm: Path) -> None:
    """lm_score in both directions and reverse_score: S of a conversation is S of the text of
    its assistant turns."""
    window = {"model": str(tiny_lm), "max_length": 32, "stride": 16}
    steps = [{"name": "lm_score", **window}, {"name": "lm_score", "direction": "reverse",
                                               **window}, {"name": "reverse_score"}]
    chats = _demo_chats(30)
    texts = [{"id": c["id"], "source": c["source"], "text": _joined(c["messages"], "assistant")}
             for c in chats]
    chat = _outcome(_run(tmp_path, "chat", chats, "chat", steps), ["s_score"])
    text = _outcome(_run(tmp_path, "text", texts, "text", steps), ["s_score"])
    assert chat[0] == text[0] and _same(chat[1], text[1]) and chat[1]
