"""output format tokens: shards a trainer reads, equal to tokenizing the kept texts directly,
read back by readers that know nothing of goldpan's writer."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import recipe_dict

pytest.importorskip("tokenizers")

TEXTS = [
    ("a", "wiki", "The river runs under the old stone bridge."),
    ("b", "news", "Engineers closed the bridge after the spring floods."),
    ("c", "wiki", "Ferries carry commuters across the river every twenty minutes."),
    ("d", "news", "short"),
    ("e", "wiki", "The town council meets on Tuesdays to discuss the repairs."),
]


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small byte-level BPE tokenizer with an end token, trained here."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([t for _, _, t in TEXTS] * 20, trainer)
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tokenizer.save(str(path))
    return path


def _corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"id": i, "source": s, "text": t}) + "\n"
                            for i, s, t in TEXTS))
    return path


def _run(tmp_path: Path, tokenizer: Path, **output: object) -> Path:
    """A run over the corpus (three parts, two workers) with token output; its ledger holds."""
    from goldpan.engine.ledger import verify_run
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    out = tmp_path / "run"
    data = recipe_dict([str(_corpus(tmp_path))], out, workers=2,
                       steps=[{"name": "length_filter", "min_words": 2}])
    data["input"]["part_records"] = 2
    data["output"].update({"format": "tokens", "tokenizer": str(tokenizer), **output})
    run_recipe(parse_recipe(data))
    assert verify_run(out)[0] == []
    return out / "output"


@pytest.fixture(scope="module")
def token_run(tmp_path_factory: pytest.TempPathFactory, tokenizer_json: Path) -> Path:
    """One run with the default token output, read by several tests."""
    return _run(tmp_path_factory.mktemp("tokens"), tokenizer_json)


def _expected(tokenizer: Path) -> dict[str, list[int]]:
    from tokenizers import Tokenizer

    direct = Tokenizer.from_file(str(tokenizer))
    eos = direct.token_to_id("<|endoftext|>")
    return {i: [*direct.encode(t, add_special_tokens=False).ids, eos]
            for i, _, t in TEXTS if len(t.split()) >= 2}


def test_the_shards_hold_the_kept_texts_tokenized_with_an_end_token(
    token_run: Path, tokenizer_json: Path
) -> None:
    output = token_run
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["dtype"] == "uint16" and manifest["documents"] == 4
    expected = _expected(tokenizer_json)
    found: dict[str, list[int]] = {}
    for shard in manifest["shards"]:
        tokens = np.memmap(output / f"{shard['name']}.bin", dtype=np.uint16, mode="r")
        docs = pq.read_table(output / f"{shard['name']}.docs.parquet").to_pylist()
        assert sum(d["length"] for d in docs) == len(tokens) == shard["tokens"]
        for doc in docs:
            found[doc["id"]] = tokens[doc["start"]: doc["start"] + doc["length"]].tolist()
    assert found == expected
    assert manifest["tokens"] == sum(map(len, expected.values()))
    assert manifest["by_source"] == {
        "news": {"documents": 1, "tokens": len(expected["b"])},
        "wiki": {"documents": 3, "tokens": sum(len(expected[k]) for k in "ace")},
    }
    order = np.load(output / "shuffle.npy")  # seeded: the same run gives the same order
    assert sorted(order.tolist()) == [0, 1, 2, 3]
    assert order.tolist() == np.random.default_rng(0).permutation(4).tolist()


def _read_idx(path: Path) -> tuple[np.dtype, np.ndarray, np.ndarray, np.ndarray]:
    """megatron-core's .idx layout, read from its published description."""
    data = path.read_bytes()
    assert data[:9] == b"MMIDIDX\x00\x00"
    (version,) = struct.unpack_from("<Q", data, 9)
    (code,) = struct.unpack_from("<B", data, 17)
    sequences, documents = struct.unpack_from("<QQ", data, 18)
    assert version == 1
    dtype = {8: np.dtype(np.uint16), 4: np.dtype(np.int32)}[code]
    offset = 34
    lengths = np.frombuffer(data, np.int32, sequences, offset)
    offset += 4 * sequences
    pointers = np.frombuffer(data, np.int64, sequences, offset)
    offset += 8 * sequences
    document_index = np.frombuffer(data, np.int64, documents, offset)
    return dtype, lengths, pointers, document_index


def test_the_megatron_index_points_at_every_document(token_run: Path, tokenizer_json: Path
                                                     ) -> None:
    output = token_run
    expected = _expected(tokenizer_json)
    for shard in json.loads((output / "manifest.json").read_text())["shards"]:
        dtype, lengths, pointers, document_index = _read_idx(output / f"{shard['name']}.idx")
        data = (output / f"{shard['name']}.bin").read_bytes()
        ids = pq.read_table(output / f"{shard['name']}.docs.parquet").column("id").to_pylist()
        assert document_index.tolist() == list(range(len(ids) + 1))
        for record_id, length, pointer in zip(ids, lengths, pointers, strict=True):
            assert np.frombuffer(data, dtype, length, pointer).tolist() == expected[record_id]


def test_megatron_cores_own_reader_opens_the_shards(token_run: Path, tokenizer_json: Path
                                                    ) -> None:
    indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    output = token_run
    expected = _expected(tokenizer_json)
    for shard in json.loads((output / "manifest.json").read_text())["shards"]:
        dataset = indexed.IndexedDataset(str(output / shard["name"]))
        ids = pq.read_table(output / f"{shard['name']}.docs.parquet").column("id").to_pylist()
        assert [dataset[k].tolist() for k in range(len(dataset))] == [expected[i] for i in ids]


def test_verify_rereads_the_shards_and_finds_a_cut_one(
    tmp_path: Path, tokenizer_json: Path
) -> None:
    from goldpan.engine.ledger import verify_run

    output = _run(tmp_path, tokenizer_json, shuffle=False)
    assert not (output / "shuffle.npy").exists()
    assert verify_run(output.parent)[0] == []
    shard = output / "part-00000.bin"
    shard.write_bytes(shard.read_bytes()[:-2])
    problems, _ = verify_run(output.parent)
    assert any("part-00000" in p and "tokens" in p for p in problems)


def test_a_vocabulary_of_65500_entries_or_more_is_written_as_int32(tmp_path: Path) -> None:
    """megatron-core's rule (optimal_dtype): uint16 only below 65,500 vocabulary entries."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocabulary = {f"w{k}": k for k in range(70_000)}
    vocabulary["<|endoftext|>"] = 70_000
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="w0"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "a", "text": "w69999 w5 w65535"}) + "\n")
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    data = recipe_dict([str(corpus)], tmp_path / "run")
    data["output"].update({"format": "tokens", "tokenizer": str(path)})
    run_recipe(parse_recipe(data))
    output = tmp_path / "run" / "output"
    assert json.loads((output / "manifest.json").read_text())["dtype"] == "int32"
    dtype, lengths, _, _ = _read_idx(output / "part-00000.idx")
    assert dtype == np.int32 and lengths.tolist() == [4]
    tokens = np.memmap(output / "part-00000.bin", dtype=np.int32, mode="r")
    assert tokens.tolist() == [69_999, 5, 65_535, 70_000]


def test_the_inspector_shows_a_token_count_not_the_token_bytes(token_run: Path) -> None:
    from goldpan.report.query import get_record
    from goldpan.report.rundata import CurationRun

    record = get_record(CurationRun(token_run.parent).cursor(), "a")
    assert record is not None and "tokens" not in record and record["token_count"] > 0


def test_tokens_without_a_tokenizer_is_a_recipe_error(tmp_path: Path) -> None:
    from goldpan.errors import GoldpanError
    from goldpan.recipe import parse_recipe

    with pytest.raises(GoldpanError, match=r"needs output\.tokenizer"):
        parse_recipe({"input": {"paths": ["x.jsonl"]},
                      "output": {"dir": str(tmp_path), "format": "tokens"}})
