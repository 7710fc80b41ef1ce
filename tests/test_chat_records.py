"""Conversations and preference pairs as records: every layout read, malformed ones rejected
with their rule, every step working through the engine's views, written back in the layouts
trainers read."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.conftest import read_rejects

CHATS = [
    {"id": "c1", "topic": "bridges", "messages": [
        {"role": "system", "content": "You are a careful civil engineer."},
        {"role": "user", "content": "Why do old stone bridges have arches?"},
        {"role": "assistant", "content": "An arch turns the weight of the deck into "
         "compression, and stone is strong in compression but weak in tension."},
        {"role": "user", "content": "Write to me at maria.lopez@example.org about it."},
        {"role": "assistant", "content": "I cannot send mail, but the short answer is that "
         "the keystone locks the arch and every stone pushes on its neighbours."},
    ]},
    {"id": "c2", "messages": [
        {"role": "user", "content": "What is the weather in Lyon?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "weather", "arguments": {"city": "Lyon"}}}]},
        {"role": "tool", "name": "weather", "content": "14 degrees, light rain"},
        {"role": "assistant", "content": "It is 14 degrees in Lyon with light rain; call "
         "+1 415 555 0199 for the forecast desk."},
    ]},
]
SHAREGPT = {"id": "s1", "conversations": [
    {"from": "human", "value": "Summarise the plot of Hamlet in one sentence."},
    {"from": "gpt", "value": "A Danish prince avenges his father's murder and dies doing so."},
]}
ALPACA = {"id": "a1", "instruction": "Translate into French.", "input": "The river is cold.",
          "output": "La rivière est froide."}
PROMPT_COMPLETION = {"id": "p1", "prompt": "Name a prime number above ten.",
                     "completion": "Eleven is prime."}


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def _jsonl(run: Path) -> list[dict[str, Any]]:
    # split on newlines only: str.splitlines would also cut at U+2028 inside a string.
    return [json.loads(line) for f in sorted((run / "output").glob("*.jsonl"))
            for line in f.read_text(encoding="utf-8").split("\n") if line]


def _chat_run(tmp_path: Path, rows: list[dict[str, Any]], steps: list[dict], name: str = "run",
              **output: Any) -> Path:
    from goldpan.engine.ledger import verify_run
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    source = _write(tmp_path / f"{name}.jsonl", rows)
    out = tmp_path / name
    recipe = {"input": {"paths": [str(source)], "kind": "chat", "id_field": "id"},
              "output": {"dir": str(out), "format": "jsonl", **output},
              "workers": 1, "steps": steps}
    run_recipe(parse_recipe(recipe))
    assert verify_run(out)[0] == []
    return out


# ---------------------------------------------------------------------------- reading


def test_every_chat_layout_is_read_as_openai_turns(tmp_path: Path) -> None:
    run = _chat_run(tmp_path, [*CHATS, SHAREGPT, ALPACA, PROMPT_COMPLETION], [])
    by_id = {r["id"]: r for r in _jsonl(run)}
    assert by_id["c1"]["messages"] == CHATS[0]["messages"]
    assert by_id["c1"]["topic"] == "bridges"  # other fields stay
    assert by_id["c2"]["messages"] == CHATS[1]["messages"]  # tool calls and names untouched
    assert by_id["s1"]["messages"] == [
        {"role": "user", "content": SHAREGPT["conversations"][0]["value"]},
        {"role": "assistant", "content": SHAREGPT["conversations"][1]["value"]},
    ]
    assert by_id["a1"]["messages"] == [
        {"role": "user", "content": "Translate into French.\n\nThe river is cold."},
        {"role": "assistant", "content": "La rivière est froide."},
    ]
    assert by_id["p1"]["messages"] == [
        {"role": "user", "content": "Name a prime number above ten."},
        {"role": "assistant", "content": "Eleven is prime."},
    ]


@pytest.mark.parametrize("fmt", ["sharegpt", "alpaca", "prompt_completion"])
def test_a_named_chat_format_reads_only_that_layout(tmp_path: Path, fmt: str) -> None:
    from goldpan.data.config import InputConfig
    from goldpan.data.inputs import expand_inputs
    from goldpan.data.readers import read_input

    path = _write(tmp_path / "mixed.jsonl", [SHAREGPT, ALPACA, PROMPT_COMPLETION])
    config = InputConfig(paths=[str(path)], kind="chat", chat_format=fmt, id_field="id",
                         part_records=10)
    (unit,) = expand_inputs(config.paths, config.format)
    ((shaped, seen),) = list(read_input(unit, config))
    assert seen == 3 and shaped.records.num_rows == 1
    assert set(shaped.rejects.column("reject_reason").to_pylist()) == {
        "read:bad_messages:missing_content" if fmt != "sharegpt" else "read:bad_messages:not_a_list"
    }


BAD_CHATS = [
    ({"id": "b1", "messages": "hello there"}, "read:bad_messages:not_a_list"),
    ({"id": "b2", "messages": ["hello", "there"]}, "read:bad_messages:turn_not_object"),
    ({"id": "b3", "messages": [{"role": "user"}]}, "read:bad_messages:missing_content"),
    ({"id": "b4", "messages": [{"role": "user", "content": ["a", "b"]}]},
     "read:bad_messages:content_not_string"),
    ({"id": "b5", "messages": [{"role": "narrator", "content": "Once upon a time"}]},
     "read:bad_messages:unknown_role"),
    ({"id": "b6", "conversations": [{"from": "robot", "value": "beep"}]},
     "read:bad_messages:unknown_role"),
    ({"id": "b7", "title": "no conversation at all"}, "read:bad_messages:no_conversation"),
]


def test_malformed_conversations_are_rejects_with_their_rule_and_nothing_is_lost(
        tmp_path: Path) -> None:
    rows = [r for r, _ in BAD_CHATS] + CHATS
    source = _write(tmp_path / "bad.jsonl", rows)
    with source.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "b8", "messages": [\n')  # malformed JSON
    from goldpan.engine.ledger import verify_run
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    out = tmp_path / "run"
    run_recipe(parse_recipe({"input": {"paths": [str(source)], "kind": "chat", "id_field": "id"},
                             "output": {"dir": str(out), "format": "parquet"}, "workers": 1,
                             "steps": []}))
    assert verify_run(out)[0] == []
    rejects = {r["id"]: r["reject_reason"] for r in read_rejects(out).to_pylist()}
    for row, reason in BAD_CHATS:
        assert rejects[row["id"]] == reason
    assert rejects["bad.jsonl:10"] == "read:malformed_json"


def test_a_parquet_file_of_conversations_is_read_like_jsonl(tmp_path: Path) -> None:
    import pyarrow as pa

    from goldpan.data.config import InputConfig
    from goldpan.data.inputs import expand_inputs
    from goldpan.data.readers import read_input

    path = tmp_path / "chats.parquet"
    pq.write_table(pa.Table.from_pylist([CHATS[0], {"id": "x", "messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}]), path)
    config = InputConfig(paths=[str(path)], kind="chat", id_field="id", part_records=10)
    (unit,) = expand_inputs(config.paths, config.format)
    ((shaped, _),) = list(read_input(unit, config))
    from goldpan.data.chat_records import conversations

    assert conversations(shaped.records.column("messages"))[0] == CHATS[0]["messages"]


# ---------------------------------------------------------------------------- preference

PREFERENCES = [
    {"id": "std", "prompt": "Is the sky blue?", "chosen": "Yes, because of Rayleigh scattering.",
     "rejected": "No."},
    {"id": "conv", "prompt": [{"role": "user", "content": "Is water wet?"}],
     "chosen": [{"role": "assistant", "content": "Water makes other things wet."}],
     "rejected": [{"role": "assistant", "content": "Who knows."}]},
    {"id": "implicit-conv",
     "chosen": [{"role": "user", "content": "Capital of Peru?"},
                {"role": "assistant", "content": "Lima."}],
     "rejected": [{"role": "user", "content": "Capital of Peru?"},
                  {"role": "assistant", "content": "Cusco."}]},
    {"id": "implicit-std", "chosen": "The answer is forty two",
     "rejected": "The answer is six or seven"},
]


def test_preference_records_follow_trls_formats_and_extract_implicit_prompts() -> None:
    from goldpan.data.chat_layouts import extract_prompt, preference_from_row

    prompt, chosen, rejected, style = preference_from_row(PREFERENCES[2])
    assert style == "conversational"
    assert prompt == [{"role": "user", "content": "Capital of Peru?"}]
    assert chosen == [{"role": "assistant", "content": "Lima."}]
    assert rejected == [{"role": "assistant", "content": "Cusco."}]
    prompt, chosen, rejected, style = preference_from_row(PREFERENCES[3])
    assert style == "standard"
    trl_data_utils = pytest.importorskip("trl.data_utils")
    expected = trl_data_utils.extract_prompt(
        {"chosen": PREFERENCES[3]["chosen"], "rejected": PREFERENCES[3]["rejected"]})
    assert extract_prompt(PREFERENCES[3]["chosen"], PREFERENCES[3]["rejected"]) == (
        expected["prompt"], expected["chosen"], expected["rejected"])
    assert prompt[0]["content"] == expected["prompt"]


def test_preference_pairs_are_curated_on_a_side_and_come_out_as_they_came_in(
        tmp_path: Path) -> None:
    from goldpan.engine.ledger import verify_run
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    rows = [*PREFERENCES, {"id": "dup", "prompt": "Is the sky blue?", "chosen": "It is.",
                           "rejected": "It is not."},
            {"id": "bad", "prompt": "x", "chosen": "y", "rejected": ["z"]}]
    source = _write(tmp_path / "prefs.jsonl", rows)
    out = tmp_path / "run"
    run_recipe(parse_recipe({
        "input": {"paths": [str(source)], "kind": "preference", "id_field": "id"},
        "output": {"dir": str(out), "format": "jsonl"}, "workers": 1,
        "steps": [{"name": "exact_dedup"}, {"name": "length_filter", "min_words": 2,
                                            "on": "rejected"}],
    }))
    assert verify_run(out)[0] == []
    kept = {r["id"]: r for r in _jsonl(out)}
    rejects = {r["id"]: r["reject_reason"] for r in read_rejects(out).to_pylist()}
    assert rejects == {"dup": "exact_dedup:duplicate", "bad": "read:bad_messages:mixed_pair",
                       "std": "length_filter:min_words", "implicit-conv": "length_filter:min_words"}
    assert set(kept) == {"conv", "implicit-std"}
    # Records of both styles in one shard come out as message lists, TRL's conversational form.
    assert kept["conv"]["chosen"] == PREFERENCES[1]["chosen"]
    assert kept["implicit-std"]["prompt"] == [{"role": "user", "content": "The answer is"}]


def test_standard_preferences_stay_strings(tmp_path: Path) -> None:
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    source = _write(tmp_path / "prefs.jsonl", [PREFERENCES[0], PREFERENCES[3]])
    out = tmp_path / "run"
    run_recipe(parse_recipe({
        "input": {"paths": [str(source)], "kind": "preference", "id_field": "id"},
        "output": {"dir": str(out), "format": "jsonl"}, "workers": 1, "steps": []}))
    by_id = {r["id"]: r for r in _jsonl(out)}
    assert {k: by_id["std"][k] for k in ("prompt", "chosen", "rejected")} == {
        k: PREFERENCES[0][k] for k in ("prompt", "chosen", "rejected")}
    assert by_id["implicit-std"]["prompt"] + by_id["implicit-std"]["chosen"] == \
        PREFERENCES[3]["chosen"]


# ---------------------------------------------------------------------------- views


def test_pii_redacts_inside_each_turn_and_keeps_the_structure(tmp_path: Path) -> None:
    run = _chat_run(tmp_path, CHATS, [{"name": "pii"}])
    by_id = {r["id"]: r for r in _jsonl(run)}
    turns = by_id["c1"]["messages"]
    assert [t["role"] for t in turns] == [t["role"] for t in CHATS[0]["messages"]]
    assert "maria.lopez@example.org" not in turns[3]["content"]
    assert "<EMAIL_ADDRESS>" in turns[3]["content"]
    assert turns[:3] == CHATS[0]["messages"][:3] and turns[4] == CHATS[0]["messages"][4]
    assert by_id["c1"]["pii_email"] == 1  # counts summed over the turns
    tool_chat = by_id["c2"]["messages"]
    assert tool_chat[1] == CHATS[1]["messages"][1]  # the tool call untouched
    assert "555 0199" not in tool_chat[3]["content"] and by_id["c2"]["pii_phone"] == 1


def test_exact_dedup_on_user_turns_compares_only_the_user_turns(tmp_path: Path) -> None:
    question = {"role": "user", "content": "How long does concrete take to cure?"}
    rows = [
        {"id": "first", "messages": [question, {"role": "assistant", "content": "About 28 days."}]},
        {"id": "same-question", "messages": [
            question, {"role": "assistant", "content": "Four weeks to full strength."}]},
        {"id": "same-answer", "messages": [
            {"role": "user", "content": "How long until concrete is strong?"},
            {"role": "assistant", "content": "About 28 days."}]},
    ]
    run = _chat_run(tmp_path, rows, [{"name": "exact_dedup"}], name="users")
    rejects = {r["id"]: r["reject_reason"] for r in read_rejects(run).to_pylist()}
    assert rejects == {"same-question": "exact_dedup:duplicate"}
    run = _chat_run(tmp_path, rows, [{"name": "exact_dedup", "on": "assistant"}], name="answers")
    rejects = {r["id"]: r["reject_reason"] for r in read_rejects(run).to_pylist()}
    assert rejects == {"same-answer": "exact_dedup:duplicate"}


def test_a_view_that_does_not_fit_the_records_is_a_recipe_error(tmp_path: Path) -> None:
    from goldpan.engine.runner import run_recipe
    from goldpan.errors import GoldpanError
    from goldpan.recipe import parse_recipe

    source = _write(tmp_path / "c.jsonl", CHATS)
    recipe = {"input": {"paths": [str(source)], "kind": "chat", "id_field": "id"},
              "output": {"dir": str(tmp_path / "run")}, "workers": 1,
              "steps": [{"name": "pii", "on": "chosen"}]}
    with pytest.raises(GoldpanError, match=r"steps\[0\]\.on: chat records have no view 'chosen'"):
        run_recipe(parse_recipe(recipe))
    recipe["steps"] = [{"name": "chat_filter"}]
    recipe["input"]["kind"] = "text"
    with pytest.raises(GoldpanError, match="chat_filter' works on chat records"):
        run_recipe(parse_recipe(recipe))


def test_recipes_read_on_as_a_key_not_a_boolean(tmp_path: Path) -> None:
    from goldpan.recipe import load_recipe

    path = tmp_path / "r.yaml"
    path.write_text("input: {paths: [x.jsonl], kind: chat}\noutput: {dir: out}\n"
                    "steps:\n  - {name: exact_dedup, on: user}\n")
    assert load_recipe(path).steps[0].options() == {"on": "user"}


def test_goldpan_steps_shows_each_steps_default_view() -> None:
    from tests.conftest import goldpan

    listing = goldpan("steps", check=True).stdout
    assert "chat: user" in listing and "chat: assistant" in listing and "chat: all" in listing


# Every step that needs no model, with options that make it act on the demo-like records.
STEP_OPTIONS: dict[str, dict[str, Any]] = {
    "length_filter": {"min_words": 3},
    "sample": {"fraction": 0.9},
    "normalize": {},
    "langid": {"languages": ["en"], "threshold": 0.3},
    "gopher_quality": {"min_words": 5},
    "gopher_repetition": {},
    "c4_quality": {"min_sentences": 1},
    "c4_badwords": {},
    "fineweb_quality": {},
    "pii": {},
    "exact_dedup": {},
    "minhash_dedup": {},
    "line_dedup": {},
    "url_filter": {},
    "extract_html": {},
    "chat_filter": {},
    "select": {"by": "pii_email", "fraction": 0.9},
}


def _conversations_from_the_demo(count: int = 80) -> list[dict[str, Any]]:
    from goldpan.data.demo_chat import sharegpt_items

    rows = []
    for number, item in enumerate(itertools.islice(sharegpt_items(), count)):
        rows.append({"id": f"sg-{number}", "conversations": item["conversations"]})
    return rows


@pytest.mark.parametrize("step", sorted(STEP_OPTIONS))
def test_every_text_step_runs_on_real_conversations_and_keeps_their_turns(
        tmp_path: Path, step: str) -> None:
    """Each step on 80 ShareGPT conversations: the ledger holds, and every kept conversation
    has the turns it was read with, except where the step rewrites text."""
    from goldpan.data.chat_layouts import chat_from_row

    rows = _conversations_from_the_demo()
    steps = [{"name": step, **STEP_OPTIONS[step]}]
    if step == "select":
        steps.insert(0, {"name": "pii"})
    if step == "url_filter":
        for row in rows:
            row["url"] = "https://example.org/chat"
    run = _chat_run(tmp_path, rows, steps)
    kept = _jsonl(run)
    assert kept, f"{step} kept nothing"
    originals = {r["id"]: chat_from_row(r, "sharegpt") for r in rows}
    rewrites = any(s["name"] in ("normalize", "pii", "c4_quality", "line_dedup", "extract_html")
                   for s in steps)
    for record in kept:
        turns = record["messages"]
        assert [t["role"] for t in turns] == [t["role"] for t in originals[record["id"]]]
        if not rewrites:
            assert turns == originals[record["id"]]


def test_preference_pairs_cannot_become_tokens(tmp_path: Path) -> None:
    from goldpan.errors import GoldpanError
    from goldpan.recipe import parse_recipe

    with pytest.raises(GoldpanError, match=r"output\.format tokens takes text or chat records"):
        parse_recipe({"input": {"paths": ["p.jsonl"], "kind": "preference"},
                      "output": {"dir": str(tmp_path), "format": "tokens", "tokenizer": "x"}})
