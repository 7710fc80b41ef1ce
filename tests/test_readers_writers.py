"""Readers take every supported input the same way; writers give back what they were given."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from goldpan.engine.ledger import output_ids
from goldpan.engine.runner import run_recipe
from goldpan.errors import GoldpanError
from goldpan.recipe import parse_recipe
from tests.conftest import read_output, recipe_dict

DOCS = [
    {"doc_id": "a", "content": "The quick brown fox jumps over the lazy dog.", "lang": "en"},
    {"doc_id": "b", "content": "Le renard brun rapide saute par-dessus le chien.", "lang": "fr"},
    {
        "doc_id": "c",
        "content": "El rápido zorro marrón salta sobre el perro perezoso.",
        "lang": "es",
    },
]


def _jsonl_bytes(docs: list[dict]) -> bytes:
    return b"".join(json.dumps(d, ensure_ascii=False).encode() + b"\n" for d in docs)


def _run(tmp_path: Path, inputs: list[str], **input_fields) -> pa.Table:
    data = recipe_dict(inputs, tmp_path / "run")
    data["input"].update({"text_field": "content", "id_field": "doc_id", **input_fields})
    run_recipe(parse_recipe(data))
    return read_output(tmp_path / "run")


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_jsonl_plain_gzip_and_zstd_read_the_same_records(tmp_path: Path, suffix: str) -> None:
    raw = _jsonl_bytes(DOCS)
    if suffix.endswith(".gz"):
        raw = gzip.compress(raw)
    elif suffix.endswith(".zst"):
        raw = zstandard.ZstdCompressor().compress(raw)
    (tmp_path / f"docs{suffix}").write_bytes(raw)
    table = _run(tmp_path, [str(tmp_path / f"docs{suffix}")])
    assert table.column("id").to_pylist() == ["a", "b", "c"]
    assert table.column("text").to_pylist() == [d["content"] for d in DOCS]
    assert table.column("lang").to_pylist() == ["en", "fr", "es"]
    assert set(table.column("source").to_pylist()) == {"docs"}


def test_parquet_input_with_configured_fields(tmp_path: Path) -> None:
    pq.write_table(pa.Table.from_pylist(DOCS), tmp_path / "docs.parquet")
    table = _run(tmp_path, [str(tmp_path / "docs.parquet")])
    assert table.column("id").to_pylist() == ["a", "b", "c"]
    assert table.column("text").to_pylist()[1].startswith("Le renard")


def test_hf_dataset_saved_to_disk_is_read(tmp_path: Path) -> None:
    import datasets

    datasets.Dataset.from_list(DOCS).save_to_disk(str(tmp_path / "hf"))
    table = _run(tmp_path, [str(tmp_path / "hf")])
    assert table.column("id").to_pylist() == ["a", "b", "c"]


def test_folder_of_text_files_gives_one_document_per_file(tmp_path: Path) -> None:
    folder = tmp_path / "texts"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.txt").write_text(DOCS[0]["content"])
    (folder / "sub" / "two.txt").write_text(DOCS[1]["content"])
    data = recipe_dict([str(folder)], tmp_path / "run")
    data["input"] = {"paths": [str(folder)], "format": "text"}
    run_recipe(parse_recipe(data))
    table = read_output(tmp_path / "run")
    assert table.column("id").to_pylist() == ["texts/one.txt", "texts/sub/two.txt"]
    assert table.column("source").to_pylist() == ["texts", "texts"]


def test_globs_read_many_files_in_a_stable_order_with_derived_ids(tmp_path: Path) -> None:
    for index in range(3):
        folder = tmp_path / "shards" / f"s{index}"
        folder.mkdir(parents=True)
        (folder / "part.jsonl").write_bytes(_jsonl_bytes([{"text": f"document number {index}"}]))
    data = recipe_dict([str(tmp_path / "shards" / "**" / "*.jsonl")], tmp_path / "run")
    data["input"] = {"paths": [str(tmp_path / "shards" / "**" / "*.jsonl")]}
    run_recipe(parse_recipe(data))
    table = read_output(tmp_path / "run")
    assert table.column("id").to_pylist() == [
        "s0/part.jsonl:1",
        "s1/part.jsonl:1",
        "s2/part.jsonl:1",
    ]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "jsonl.gz", "hf"])
def test_every_output_format_holds_the_kept_records_in_shards(
    corpus: Path, tmp_path: Path, fmt: str
) -> None:
    data = recipe_dict(
        [str(corpus)], tmp_path / "run", steps=[{"name": "length_filter", "min_words": 20}]
    )
    data["output"].update({"format": fmt, "shard_records": 150})
    data["input"]["part_records"] = 100
    result = run_recipe(parse_recipe(data))
    ids = output_ids(tmp_path / "run" / "output")
    assert len(ids) == result.output_records > 150
    assert len(set(ids)) == len(ids)
    assert len(result.output_files) == -(-result.output_records // 150)
    if fmt == "hf":
        import datasets

        loaded = datasets.load_from_disk(str(tmp_path / "run" / "output" / "dataset"))
        assert sorted(loaded["id"]) == sorted(ids)
    if fmt == "jsonl.gz":
        first = tmp_path / "run" / "output" / result.output_files[0]
        with gzip.open(first, "rt") as handle:
            assert set(json.loads(handle.readline())) >= {"id", "text", "source"}


def test_kept_output_has_no_reject_columns(corpus: Path, tmp_path: Path) -> None:
    data = recipe_dict([str(corpus)], tmp_path / "run", steps=[{"name": "exact_dedup"}])
    run_recipe(parse_recipe(data))
    assert not [c for c in read_output(tmp_path / "run").column_names if c.startswith("reject_")]


def test_missing_text_column_in_parquet_is_a_one_line_error(tmp_path: Path) -> None:
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "docs.parquet")
    data = recipe_dict([str(tmp_path / "docs.parquet")], tmp_path / "run")
    data["input"] = {"paths": [str(tmp_path / "docs.parquet")]}
    with pytest.raises(GoldpanError, match=r"no column .text. .*set input.text_field"):
        run_recipe(parse_recipe(data))


def test_a_big_jsonl_file_is_read_in_ranges_with_true_line_numbers(tmp_path: Path) -> None:
    lines = [json.dumps({"text": f"document {i} " + "word " * (i % 7)}) for i in range(3000)]
    lines.insert(1500, "")  # a blank line in the middle
    lines.insert(2000, "{broken")
    (tmp_path / "big.jsonl").write_text("\n".join(lines) + "\n")
    whole = recipe_dict([str(tmp_path / "big.jsonl")], tmp_path / "whole")
    whole["input"] = {"paths": [str(tmp_path / "big.jsonl")], "split_bytes": None}
    split = recipe_dict([str(tmp_path / "big.jsonl")], tmp_path / "split", workers=2)
    split["input"] = {"paths": [str(tmp_path / "big.jsonl")], "split_bytes": 4096}
    run_recipe(parse_recipe(whole))
    run_recipe(parse_recipe(split))
    assert len(list((tmp_path / "split" / "stages" / "00-read").glob("part-*._SUCCESS"))) > 10
    assert read_output(tmp_path / "split").equals(read_output(tmp_path / "whole"))
    ids = read_output(tmp_path / "split").column("id").to_pylist()
    assert ids[1500] == "big.jsonl:1502" and "big.jsonl:2001" not in ids
    from goldpan.engine.ledger import verify_run

    assert verify_run(tmp_path / "split")[0] == []


def test_small_jsonl_files_keep_unicode_line_separators_inside_strings(tmp_path: Path) -> None:
    """JSON written with ensure_ascii=False carries U+2028 raw; it must not split a line."""
    from goldpan.data.json_lines import read_json_lines

    path = tmp_path / "rows.jsonl"
    rows = [{"text": "one\u2028two\u2029three\x85four"}, {"text": "plain"}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    assert read_json_lines(path, "rows", lambda row, _: row, "an object") == rows


def test_push_to_hub_uploads_the_finished_output_and_only_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line publishes what the engine wrote (the engine itself never pushes); the
    Hub is replaced by a recorder: tests never reach the network."""
    import huggingface_hub

    from goldpan.cli.app import run_and_publish
    from goldpan.errors import GoldpanError
    from goldpan.recipe import parse_recipe

    calls: list[tuple[str, dict]] = []

    class RecordingHub:
        def create_repo(self, repo_id: str, **options: object) -> None:
            calls.append(("create_repo", {"repo_id": repo_id, **options}))

        def upload_folder(self, **options: object) -> object:
            folder = Path(str(options["folder_path"]))
            uploaded = sorted(p.name for p in folder.iterdir()
                              if p.name in options["allow_patterns"])  # type: ignore[operator]
            calls.append(("upload_folder", {**options, "uploaded": uploaded}))
            return type("Commit", (), {"commit_url": "https://hub.example/commit/1"})()

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingHub)
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(json.dumps({"id": str(i), "text": f"text {i} " * 5}) + "\n"
                              for i in range(30)))
    data = recipe_dict([str(corpus)], tmp_path / "run")
    data["output"].update(push_to_hub="goldpan-test/curated", hub_private=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(GoldpanError, match="HF_HUB_OFFLINE is set"):
        run_and_publish(parse_recipe(data), quiet=True)
    assert calls == []
    monkeypatch.delenv("HF_HUB_OFFLINE")
    run_and_publish(parse_recipe(data), quiet=True)  # resumes: only the upload is left
    (create, options), (upload, pushed) = calls
    assert create == "create_repo" and options == {"repo_id": "goldpan-test/curated",
                                                   "repo_type": "dataset", "private": False,
                                                   "exist_ok": True}
    assert upload == "upload_folder" and pushed["repo_type"] == "dataset"
    assert pushed["uploaded"] == ["part-00000.parquet"]
