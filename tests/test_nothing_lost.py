"""Nothing lost, nothing altered: ids exactly as in the input, a report for any column layout,
and one clear line (never a traceback) when the machine refuses a read or a write."""

from __future__ import annotations

import errno
import gzip
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from goldpan.cli import main
from goldpan.engine.ledger import verify_run
from goldpan.report.rundata import CurationRun
from tests.conftest import goldpan, read_output, read_rejects, write_recipe

SENTENCE = (
    "The river runs through the valley and the hills rise above it, green and wide, while "
    "people walk along its banks every morning of the week."
)
MIXED_IDS = ["b1", 7, "b2", "7x", 12345678901234, "c 3", -4, "b5"]


def _lines(ids: list, texts: list[str | None] | None = None) -> bytes:
    texts = texts or [f"{SENTENCE} Number {i}." for i in range(len(ids))]
    rows = []
    for record_id, text in zip(ids, texts, strict=True):
        row = {"id": record_id} if text is None else {"id": record_id, "text": text}
        rows.append(json.dumps(row))
    return ("\n".join(rows) + "\n").encode()


def _run(tmp_path: Path, paths: list[Path], steps: list | None = None, **input_fields):
    recipe = write_recipe(
        tmp_path / "r.yaml",
        input={"paths": [str(p) for p in paths], "id_field": "id", **input_fields},
        output={"dir": str(tmp_path / "run")},
        workers=1,
        steps=steps or [],
    )
    return goldpan("run", str(recipe), "-q")


def _all_ids(run_dir: Path) -> list[str]:
    return read_output(run_dir).column("id").to_pylist() + (
        read_rejects(run_dir).column("id").to_pylist() if read_rejects(run_dir).num_rows else []
    )


@pytest.mark.parametrize("layout", ["plain", "gzip", "byte ranges"])
def test_ids_of_mixed_types_in_one_file_come_out_exactly_as_in_the_input(
    tmp_path: Path, layout: str
) -> None:
    # One line has no text: it is rejected at read time and keeps its id too.
    texts = [f"{SENTENCE} Number {i}." for i in range(len(MIXED_IDS))]
    texts[2] = None
    data = _lines(MIXED_IDS, texts) * 1
    path = tmp_path / ("in.jsonl.gz" if layout == "gzip" else "in.jsonl")
    path.write_bytes(gzip.compress(data) if layout == "gzip" else data)
    extra = {"split_bytes": 200} if layout == "byte ranges" else {}
    result = _run(tmp_path, [path], **extra)
    assert result.returncode == 0, result.stderr
    expected = [str(i) for i in MIXED_IDS]
    assert sorted(_all_ids(tmp_path / "run")) == sorted(expected)
    assert read_rejects(tmp_path / "run").column("id").to_pylist() == ["b2"]
    assert verify_run(tmp_path / "run")[0] == []


def test_ids_of_different_types_across_files_keep_their_text(tmp_path: Path) -> None:
    numbers, strings, mixed = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    numbers.write_bytes(_lines([1, 2, 3]))
    strings.write_bytes(_lines(["x1", "x2", "x3"]))
    mixed.write_bytes(_lines(["y1", 10, "y2"]))
    assert _run(tmp_path, [numbers, strings, mixed]).returncode == 0
    assert read_output(tmp_path / "run").column("id").to_pylist() == [
        "1", "2", "3", "x1", "x2", "x3", "y1", "10", "y2"
    ]


def test_mixed_passthrough_fields_keep_their_strings_unquoted(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    rows = [
        {"id": "a", "text": SENTENCE, "source": "wiki", "tag": "red"},
        {"id": "b", "text": SENTENCE, "source": 3, "tag": 5},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert _run(tmp_path, [path]).returncode == 0
    output = read_output(tmp_path / "run")
    assert output.column("source").to_pylist() == ["wiki", "3"]
    assert output.column("tag").to_pylist() == ["red", "5"]


def test_float_boolean_and_object_ids_are_rejected_as_invalid(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(_lines(["ok", 1.5, True, {"a": 1}, 7.0]))
    result = _run(tmp_path, [path])
    assert result.returncode == 0, result.stderr
    rejects = read_rejects(tmp_path / "run")
    assert dict(zip(rejects.column("id").to_pylist(), rejects.column("reject_reason").to_pylist(),
                    strict=True)) == {f"in.jsonl:{n}": "read:invalid_id" for n in (2, 3, 4, 5)}
    assert read_output(tmp_path / "run").column("id").to_pylist() == ["ok"]
    assert verify_run(tmp_path / "run")[0] == []


def test_a_float_id_column_in_parquet_is_rejected_row_by_row(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [1.0, None], "text": [SENTENCE, SENTENCE]}), path)
    assert _run(tmp_path, [path]).returncode == 0
    reasons = read_rejects(tmp_path / "run").column("reject_reason").to_pylist()
    assert sorted(reasons) == ["read:invalid_id", "read:missing_id"]


@pytest.mark.parametrize("compressed", [False, True])
def test_a_repeated_id_is_caught_whatever_its_json_type_and_both_places_are_named(
    tmp_path: Path, compressed: bool
) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(_lines(["b1", 7, "b2"]))
    data = _lines(["c1", "7", "c2"])
    if compressed:
        second = tmp_path / "b.jsonl.gz"
        data = gzip.compress(data)
    second.write_bytes(data)
    result = _run(tmp_path, [first, second])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert f"'7' at a.jsonl:2 and {second.name}:2" in message
    # A rerun resumes every read task from its marker, so the ids come from the files.
    rerun = _run(tmp_path, [first, second])
    assert rerun.returncode == 2
    assert f"'7' at a.jsonl:2 and {second.name}:2" in " ".join(rerun.stderr.split())


def test_a_repeated_id_is_caught_when_one_copy_was_rejected_at_read_time(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(_lines(["a", "b", "a"], [SENTENCE, SENTENCE, None]))
    result = _run(tmp_path, [path], split_bytes=100)
    assert result.returncode == 2
    assert "'a' at in.jsonl:1 and in.jsonl:3" in " ".join(result.stderr.split())


LATE_STEPS = [
    {"name": "gopher_quality"},
    {"name": "c4_quality"},
    {"name": "pii"},
    {"name": "exact_dedup"},
    {"name": "minhash_dedup"},
]


def test_the_report_is_written_when_late_steps_reject_nothing(
    tmp_path: Path, corpus: Path
) -> None:
    wiki = tmp_path / "wiki.jsonl"
    lines = [
        line for line in corpus.read_text().split("\n")
        if line and json.loads(line)["source"] == "wikipedia_en"
    ]
    wiki.write_text("\n".join(lines) + "\n")
    result = _run(tmp_path, [wiki], steps=LATE_STEPS)
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    late = [s for s in stats["stages"] if s["step"] in ("pii", "exact_dedup", "minhash_dedup")]
    assert late and all(sum(s["rejects"].values()) == 0 for s in late)
    assert "report not written" not in result.stderr
    page = (tmp_path / "run" / "report.html").read_text()
    assert "pii_email" in page


def test_report_and_inspector_take_columns_on_one_side_and_types_that_differ(
    tmp_path: Path,
) -> None:
    ints, texts = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    ints.write_text("".join(
        json.dumps({"id": f"a{i}", "text": f"{SENTENCE} {i}", "score": i}) + "\n"
        for i in range(5)))
    texts.write_text("".join(
        json.dumps({"id": f"b{i}", "text": "short" if i % 2 else f"{SENTENCE} {i}",
                    "score": f"s{i}", "only_b": [i]}) + "\n"
        for i in range(5)))
    result = _run(tmp_path, [ints, texts], steps=[{"name": "length_filter", "min_words": 5},
                                                  {"name": "pii"}])
    assert result.returncode == 0, result.stderr
    assert "report not written" not in result.stderr
    run = CurationRun(tmp_path / "run")
    assert run.columns["score"] == "VARCHAR"
    assert run.scalar("SELECT count(*) FROM rejected WHERE pii_email IS NULL") == 2
    assert sorted(run.rows("SELECT score FROM records WHERE id IN ('a1', 'b1')")) == [
        ("1",), ("s1",)
    ]
    assert run.scalar("SELECT count(*) FROM kept WHERE only_b IS NOT NULL") == 3


# ------------------------------------------------------------------ the machine refuses


def _failing_parquet_writes(monkeypatch: pytest.MonkeyPatch, after: int, code: int) -> None:
    """Let ``after`` Parquet writes through, then fail every write with ``code``."""
    real = pq.write_table
    calls = {"n": 0}

    def write_table(table, where, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            Path(where).write_bytes(b"PAR1 partial")  # a half-written temporary file
            raise OSError(code, f"[errno {code}] {errno.errorcode[code]}")
        return real(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", write_table)


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["goldpan", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code


def _recipe_with_parts(tmp_path: Path, corpus: Path) -> Path:
    return write_recipe(
        tmp_path / "r.yaml",
        input={"paths": [str(corpus)], "id_field": "id", "part_records": 50},
        output={"dir": str(tmp_path / "run")},
        workers=1,
        steps=[{"name": "gopher_quality"}, {"name": "exact_dedup"}],
    )


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_a_refused_write_is_one_line_exit_1_and_the_rerun_equals_an_uninterrupted_run(
    tmp_path: Path,
    corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    code: int,
) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    assert _main(monkeypatch, "run", str(_recipe_with_parts(clean, corpus)), "-q") in (0, None)
    capsys.readouterr()

    faulty = tmp_path / "faulty"
    faulty.mkdir()
    recipe = _recipe_with_parts(faulty, corpus)
    with monkeypatch.context() as patch:
        _failing_parquet_writes(patch, after=5, code=code)
        assert _main(patch, "run", str(recipe), "-q") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert f"error: {faulty / 'run'}/" in lines[0] and ".parquet: " in lines[0]
    assert "rerun the same command" in lines[0]
    assert not [p for p in _files_under(faulty / "run") if ".tmp-" in p]

    assert _main(monkeypatch, "run", str(recipe), "-q") in (0, None)
    assert read_output(faulty / "run").equals(read_output(clean / "run"))
    assert read_rejects(faulty / "run").equals(read_rejects(clean / "run"))
    assert verify_run(faulty / "run")[0] == []


def test_a_run_directory_deleted_mid_run_is_one_line_and_a_rerun_rebuilds_it(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shutil

    recipe = _recipe_with_parts(tmp_path, corpus)
    real = pq.write_table
    calls = {"n": 0}

    def write_then_vanish(table, where, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            shutil.rmtree(tmp_path / "run")
        return real(table, where, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(pq, "write_table", write_then_vanish)
        assert _main(patch, "run", str(recipe), "-q") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "deleted or moved" in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1
    assert _main(monkeypatch, "run", str(recipe), "-q") in (0, None)
    assert verify_run(tmp_path / "run")[0] == []


def test_an_input_file_deleted_mid_run_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(_lines(["a1", "a2"]))
    second.write_bytes(_lines(["b1", "b2"]))
    recipe = write_recipe(
        tmp_path / "r.yaml",
        input={"paths": [str(first), str(second)], "id_field": "id"},
        output={"dir": str(tmp_path / "run")},
        workers=1,
        steps=[],
    )
    real = pq.write_table

    def write_then_delete_input(table, where, **kwargs):
        second.unlink(missing_ok=True)
        return real(table, where, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(pq, "write_table", write_then_delete_input)
        assert _main(patch, "run", str(recipe), "-q") != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{second}: no such file" in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1
