"""Conversations out: chat_filter's rules, the layouts trainers read (round trips, TRL's
dataset preparation), tokens with assistant-only loss masks equal to TRL's, packing, and
goldpan's own generated data read by a chat recipe as it is."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import read_rejects
from tests.test_chat_records import CHATS, _chat_run, _jsonl, _write

U = {"role": "user", "content": "Which metal is used in bridge cables?"}
A = {"role": "assistant", "content": "Mostly high-strength galvanised steel wire."}

CHAT_FILTER_CASES = [
    ("ok", [U, A], None),
    ("system-late", [U, {"role": "system", "content": "Be brief."}, A], "roles"),
    ("two-users", [U, U, A], "roles"),
    ("ends-on-user", [U, A, U], "roles"),
    ("starts-with-answer", [A, U, A], "roles"),
    ("tool-without-call", [U, {"role": "tool", "content": "42"}, A], "roles"),
    ("blank", [U, {"role": "assistant", "content": "  \n "}], "empty_turn"),
    ("think-open", [U, {"role": "assistant", "content": "<think>Steel is strong. Steel wire."}],
     "think_unclosed"),
    ("think-empty", [U, {"role": "assistant", "content": "<think> </think>Steel wire."}],
     "think_unclosed"),
    ("think-ok", [U, {"role": "assistant", "content": "<think>Cables need tension.</think>Steel."}],
     None),
    ("long", [U, A] * 4, "max_turns"),
    ("loop", [U, A, {"role": "user", "content": "Are you sure?"}, A], "repeated_answer"),
    ("refusal", [U, {"role": "assistant", "content": "As an AI language model, I cannot know."}],
     "refusal"),
]


def test_chat_filter_rejects_each_rule_with_its_own_reason(tmp_path: Path) -> None:
    rows = [{"id": name, "messages": turns} for name, turns, _ in CHAT_FILTER_CASES]
    rows.append({"id": "tools", "messages": CHATS[1]["messages"]})  # a tool call, answered
    run = _chat_run(tmp_path, rows, [{"name": "chat_filter", "max_turns": 6,
                                      "refusal_phrases": ["as an ai language model"]}])
    rejects = {r["id"]: r["reject_reason"] for r in read_rejects(run).to_pylist()}
    expected = {name: f"chat_filter:{rule}" for name, _, rule in CHAT_FILTER_CASES if rule}
    assert rejects == expected
    assert {r["id"] for r in _jsonl(run)} == {"ok", "think-ok", "tools"}


def test_chat_filter_refusals_are_off_unless_given(tmp_path: Path) -> None:
    rows = [{"id": "refusal", "messages": CHAT_FILTER_CASES[-1][1]}]
    run = _chat_run(tmp_path, rows, [{"name": "chat_filter"}])
    assert [r["id"] for r in _jsonl(run)] == ["refusal"]


# ---------------------------------------------------------------------------- layouts


PLAIN = [
    {"id": "plain", "messages": [U, A]},
    {"id": "system", "messages": [{"role": "system", "content": "Answer as an engineer."}, U, A]},
    {"id": "multi", "messages": [U, A, {"role": "user", "content": "And for the deck?"},
                                 {"role": "assistant", "content": "Reinforced concrete."}]},
]
# Which conversations each layout holds (Alpaca: one exchange, optionally with a system).
HOLDS = {"openai": {"plain", "system", "multi"}, "sharegpt": {"plain", "system", "multi"},
         "alpaca": {"plain", "system"}, "prompt_completion": {"plain", "system", "multi"}}


@pytest.mark.parametrize("written,read_as", list(itertools.permutations(HOLDS, 2)))
def test_a_conversation_written_in_one_layout_reads_back_the_same_in_another(
        tmp_path: Path, written: str, read_as: str) -> None:
    rows = [r for r in PLAIN if r["id"] in HOLDS[written] & HOLDS[read_as]]
    first = _chat_run(tmp_path, rows, [], name="first", chat_format=written)
    second_input = [json.loads(line) for line in
                    (first / "output" / "part-00000.jsonl").read_text().split("\n") if line]
    second = _chat_run(tmp_path, second_input, [], name="second", chat_format=read_as)
    third_input = _jsonl(second)
    third = _chat_run(tmp_path, third_input, [], name="third")
    assert {r["id"]: r["messages"] for r in _jsonl(third)} == {r["id"]: r["messages"]
                                                              for r in rows}


def test_a_layout_that_cannot_hold_a_conversation_stops_with_its_id(tmp_path: Path) -> None:
    from goldpan.errors import GoldpanError

    with pytest.raises(GoldpanError, match="record 'multi': output alpaca cannot hold"):
        _chat_run(tmp_path, PLAIN, [], chat_format="alpaca")


@pytest.mark.parametrize("fmt", ["parquet", "hf"])
def test_parquet_and_hf_outputs_hold_the_same_conversations(tmp_path: Path, fmt: str) -> None:
    datasets = pytest.importorskip("datasets")
    run = _chat_run(tmp_path, [*PLAIN, *CHATS], [], )
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    out = tmp_path / fmt
    # Parts of two records: the tool call is in one shard only, and every shard of the output
    # still has one schema (a data set loads only then).
    run_recipe(parse_recipe({"input": {"paths": [str(run / "output")], "kind": "chat",
                                       "id_field": "id", "part_records": 2},
                             "output": {"dir": str(out), "format": fmt}, "workers": 1,
                             "steps": []}))
    if fmt == "hf":
        loaded = datasets.load_from_disk(str(out / "output" / "dataset"))
    else:
        shards = sorted((out / "output").glob("*.parquet"))
        assert len(shards) == 3
        assert len({str(pq.read_schema(f)) for f in shards}) == 1
        loaded = datasets.load_dataset("parquet", data_files=str(out / "output" / "*.parquet"),
                                       split="train")
    # Arrow gives every turn every field, null where a turn has none (as TRL's own data sets
    # with tool calls look once loaded): the same conversation, read without the nulls.
    by_id = {row["id"]: [{k: v for k, v in t.items() if v is not None} for t in row["messages"]]
             for row in loaded}
    for row in PLAIN:
        assert by_id[row["id"]] == row["messages"]
    turn = by_id["c2"][1]
    assert turn["tool_calls"] == CHATS[1]["messages"][1]["tool_calls"]


# ---------------------------------------------------------------------------- TRL


def _tiny_chat_model(tiny_lm: Path, folder: Path) -> Path:
    """A copy of the tests' tiny random Llama with the SmolLM2 training template."""
    import shutil

    from transformers import AutoTokenizer

    from goldpan.models.chat_tokens import template_text

    shutil.copytree(tiny_lm, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = template_text("smollm2-generation")
    tokenizer.save_pretrained(folder)
    return folder


def test_trl_prepares_the_sft_and_dpo_outputs_for_training(tmp_path: Path, tiny_lm: Path
                                                            ) -> None:
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_folder = _tiny_chat_model(tiny_lm, tmp_path / "model")
    sft_run = _chat_run(tmp_path, PLAIN, [{"name": "chat_filter"}])
    sft = datasets.load_dataset("json", data_files=str(sft_run / "output" / "*.jsonl"),
                                split="train")
    tokenizer = AutoTokenizer.from_pretrained(model_folder)
    model = AutoModelForCausalLM.from_pretrained(model_folder)
    trainer = trl.SFTTrainer(
        model=model, processing_class=tokenizer, train_dataset=sft,
        args=trl.SFTConfig(output_dir=str(tmp_path / "sft"), assistant_only_loss=True,
                           report_to=[], max_length=256, use_cpu=True, bf16=False))
    prepared = trainer.train_dataset
    assert len(prepared) == len(PLAIN)
    # TRL folds the assistant masks into the labels (-100: the loss skips the token).
    for row in prepared:
        assert -100 in row["labels"] and any(label != -100 for label in row["labels"])

    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    pairs = _write(tmp_path / "pairs.jsonl", [
        {"id": "p1", "prompt": [U], "chosen": [A],
         "rejected": [{"role": "assistant", "content": "Wood."}]},
        {"id": "p2", "prompt": [{"role": "user", "content": "Is granite strong?"}],
         "chosen": [{"role": "assistant", "content": "Very, in compression."}],
         "rejected": [{"role": "assistant", "content": "No."}]},
    ])
    dpo_run = tmp_path / "dpo-run"
    run_recipe(parse_recipe({"input": {"paths": [str(pairs)], "kind": "preference",
                                       "id_field": "id"},
                             "output": {"dir": str(dpo_run), "format": "jsonl"}, "workers": 1,
                             "steps": [{"name": "pii"}]}))
    dpo = datasets.load_dataset("json", data_files=str(dpo_run / "output" / "*.jsonl"),
                                split="train")
    trainer = trl.DPOTrainer(
        model=model, processing_class=tokenizer, train_dataset=dpo,
        args=trl.DPOConfig(output_dir=str(tmp_path / "dpo"), report_to=[], max_length=256,
                             use_cpu=True, bf16=False))
    prepared = trainer.train_dataset
    assert len(prepared) == 2
    assert {"prompt_ids", "chosen_ids", "rejected_ids"} <= set(prepared.column_names) or \
        {"prompt_input_ids", "chosen_input_ids"} <= set(prepared.column_names)


# ---------------------------------------------------------------------------- tokens and masks


@pytest.fixture(scope="module")
def demo_chat_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The chat demo's two runs (recipes/chat.yaml, then recipes/chat-tokens.yaml) on 120
    ShareGPT conversations, with the SmolLM2 tokenizer and its own (unmarked) template."""
    from goldpan.data.demo_chat import build_chat_demo
    from goldpan.engine.ledger import verify_run
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import load_recipe

    folder = tmp_path_factory.mktemp("chat-demo")
    chats, benchmark = build_chat_demo(folder / "data", conversations=120, copies=4)
    recipes = Path(__file__).resolve().parents[1] / "recipes"
    curate = load_recipe(recipes / "chat.yaml", [
        f"input.paths=[{chats}]", f"output.dir={folder / 'chat'}",
        f"steps.4.benchmarks.0.path={benchmark}", "workers=1"])
    run_recipe(curate)
    tokens = load_recipe(recipes / "chat-tokens.yaml", [
        f"input.paths=[{folder / 'chat' / 'output'}]", f"output.dir={folder / 'tokens'}",
        "workers=1"])
    run_recipe(tokens)
    for run in ("chat", "tokens"):
        assert verify_run(folder / run)[0] == []
    return {"chat": folder / "chat", "tokens": folder / "tokens", "data": folder / "data"}


def _trl_masks(conversations: list[dict[str, Any]], output_dir: Path
               ) -> dict[str, tuple[list[int], list[int]]]:
    """TRL's SFTTrainer preparation with assistant_only_loss on SmolLM2's tokenizer and the
    training template (the same rendering with {% generation %} marks)."""
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from goldpan.models.chat_tokens import load_chat_tokenizer

    tokenizer = load_chat_tokenizer("smollm2-135m-instruct", "smollm2-generation")
    dataset = datasets.Dataset.from_list(
        [{"id": r["id"], "messages": r["messages"]} for r in conversations])
    from transformers import LlamaConfig, LlamaForCausalLM

    # A tiny random model of the tokenizer's vocabulary: TRL's preparation is what is compared.
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, eos_token_id=tokenizer.eos_token_id))
    trainer = trl.SFTTrainer(
        model=model, processing_class=tokenizer, train_dataset=dataset,
        args=trl.SFTConfig(output_dir=str(output_dir), assistant_only_loss=True,
                           max_length=None, report_to=[], use_cpu=True, bf16=False))
    prepared = trainer.train_dataset
    return {row["id"]: (row["input_ids"], row["assistant_masks"] if "assistant_masks" in row
                        else [int(label != -100) for label in row["labels"]])
            for row in prepared}


def _shards(out: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    import pyarrow.parquet as pq

    ids: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    for docs_file in sorted(out.glob("part-*.docs.parquet")):
        stem = docs_file.name.removesuffix(".docs.parquet")
        tokens = np.fromfile(out / f"{stem}.bin", np.uint16)
        mask = np.fromfile(out / f"{stem}.mask.bin", np.uint8)
        for row in pq.read_table(docs_file).to_pylist():
            span = slice(row["start"], row["start"] + row["length"])
            ids[row["id"]], masks[row["id"]] = tokens[span], mask[span]
    return ids, masks


def test_demo_masks_equal_trls_assistant_masks_token_for_token(demo_chat_runs: dict[str, Path]
                                                               ) -> None:
    kept = _jsonl(demo_chat_runs["chat"])
    assert len(kept) > 30
    ids, masks = _shards(demo_chat_runs["tokens"] / "output")
    assert set(ids) == {r["id"] for r in kept}
    expected = _trl_masks(kept, demo_chat_runs["chat"].parent / "trl")
    for record_id, (trl_ids, trl_mask) in expected.items():
        assert ids[record_id].tolist() == trl_ids, record_id
        assert masks[record_id].tolist() == trl_mask, record_id


def test_the_masked_tokens_decode_to_the_assistant_turns_and_nothing_else(
        demo_chat_runs: dict[str, Path]) -> None:
    from goldpan.models.chat_tokens import load_chat_tokenizer

    tokenizer = load_chat_tokenizer("smollm2-135m-instruct")
    ids, masks = _shards(demo_chat_runs["tokens"] / "output")
    for record in _jsonl(demo_chat_runs["chat"])[:40]:
        tokens, mask = ids[record["id"]], masks[record["id"]]
        edges = np.flatnonzero(np.diff(np.concatenate([[0], mask, [0]]).astype(np.int8)))
        spans = [tokenizer.decode(tokens[a:b].tolist(), skip_special_tokens=True)
                 for a, b in zip(edges[::2], edges[1::2], strict=True)]
        answers = [t["content"] for t in record["messages"] if t["role"] == "assistant"]
        # Each masked span is one assistant turn: its content, then the end-of-turn token
        # (special, so not decoded) and the template's line break.
        assert [s.removesuffix("\n") for s in spans] == answers


def test_megatron_opens_the_tokens_and_the_mask_as_indexed_datasets(
        demo_chat_runs: dict[str, Path]) -> None:
    indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    out = demo_chat_runs["tokens"] / "output"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["loss_mask"] and manifest["packing"]["max_tokens"] == 2048
    tokens = indexed.IndexedDataset(str(out / "part-00000"))
    mask = indexed.IndexedDataset(str(out / "part-00000.mask"))
    assert len(tokens) == len(mask) == manifest["shards"][0]["documents"]
    assert all(len(tokens[i]) == len(mask[i]) for i in range(len(tokens)))
    assert mask[0].dtype == np.uint8 and set(np.unique(mask[0])) <= {0, 1}
    # Packs are Megatron's documents: each at most 2,048 tokens, made of whole conversations.
    starts = tokens.document_indices
    lengths = tokens.sequence_lengths
    assert max(int(lengths[a:b].sum()) for a, b in itertools.pairwise(starts)) <= 2048


def test_packing_is_as_tight_as_trls_best_fit_decreasing(demo_chat_runs: dict[str, Path]) -> None:
    datasets = pytest.importorskip("datasets")
    trl_data_utils = pytest.importorskip("trl.data_utils")
    out = demo_chat_runs["tokens"] / "output"
    manifest = json.loads((out / "manifest.json").read_text())
    ids, _ = _shards(out)
    dataset = datasets.Dataset.from_list([{"input_ids": v.tolist()} for v in ids.values()])
    packed = trl_data_utils.pack_dataset(dataset, seq_length=2048, strategy="bfd")
    assert manifest["packing"]["packs"] == len(packed)


def test_a_template_that_cannot_mask_stops_the_run_with_one_line(tmp_path: Path,
                                                                  tiny_lm: Path) -> None:
    from goldpan.engine.runner import run_recipe
    from goldpan.errors import GoldpanError
    from goldpan.recipe import parse_recipe

    # This template renders the conversation's last turn differently from an earlier one, so
    # no rendering of a prefix is a token prefix of the whole, and it has no generation marks.
    template = tmp_path / "odd.jinja"
    template.write_text("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}"
                        "{% if loop.last %} [end]{% endif %}\n{% endfor %}"
                        "{% if add_generation_prompt %}assistant:{% endif %}")
    source = _write(tmp_path / "c.jsonl", PLAIN)
    recipe = {"input": {"paths": [str(source)], "kind": "chat", "id_field": "id"},
              "output": {"dir": str(tmp_path / "run"), "format": "tokens",
                         "tokenizer": str(tiny_lm), "chat_template": str(template)},
              "workers": 1, "steps": []}
    with pytest.raises(GoldpanError, match=r"odd.jinja: .* not a token prefix"):
        run_recipe(parse_recipe(recipe))


# ---------------------------------------------------------------------------- own outputs


def test_goldpans_generated_data_is_read_by_a_chat_recipe_as_written(tmp_path: Path) -> None:
    """Self-Instruct's messages and Alpaca files, Montessori's synthetic answers and preference
    pairs, and negative-data rationales, each in the shape its writer gives it."""
    from goldpan.distill.imported import grade_rationales
    from goldpan.engine.ledger import verify_run
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe
    from goldpan.synth.preferences import preference_pairs
    from goldpan.synth.records import InstructionExample, ScoredExample

    instruction, answer = "List two uses of limestone.", "Cement and road base."
    self_instruct_alpaca = [{"instruction": instruction, "input": "", "output": answer}]
    self_instruct_messages = [{"messages": [{"role": "user", "content": instruction},
                                            {"role": "assistant", "content": answer}]}]
    montessori_synthetic = [InstructionExample(instruction, answer, "Write a task.",
                                               f"<task>{instruction}</task>").to_json()]
    pairs = [pair.to_json() for pair in preference_pairs([
        ScoredExample(InstructionExample("i", "r", "Write a task.", "Name a rock."), 0.3),
        ScoredExample(InstructionExample("i", "r", "Write a task.", "Say hi."), -0.2),
    ])]
    _, collected = grade_rationales([
        {"id": "q1", "question": "What is 2 + 3?", "answer": "5",
         "rationale": "2 + 3 = 5. The answer is 5."},
        {"id": "q1", "question": "What is 2 + 3?", "answer": "5",
         "rationale": "2 + 3 = 6. The answer is 6."},
    ])
    files = {
        "alpaca": (self_instruct_alpaca, "chat"),
        "messages": (self_instruct_messages, "chat"),
        "synthetic": (montessori_synthetic, "chat"),
        "d_pos": ([r.to_json() for r in collected.positive], "chat"),
        "d_neg": ([r.to_json() for r in collected.negative], "chat"),
        "preferences": (pairs, "preference"),
    }
    for name, (rows, kind) in files.items():
        source = _write(tmp_path / f"{name}.jsonl", rows)
        out = tmp_path / f"run-{name}"
        steps = [{"name": "chat_filter"}] if kind == "chat" else [{"name": "exact_dedup"}]
        run_recipe(parse_recipe({"input": {"paths": [str(source)], "kind": kind},
                                 "output": {"dir": str(out), "format": "jsonl"}, "workers": 1,
                                 "steps": steps}))
        assert verify_run(out)[0] == []
        kept = _jsonl(out)
        assert len(kept) == len(rows), name
        if kind == "chat":
            assert kept[0]["messages"][-1]["content"] in (answer, rows[0].get("completion"))
        else:
            assert kept[0]["chosen"] == "Name a rock." and kept[0]["rejected"] == "Say hi."
