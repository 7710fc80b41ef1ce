"""Bad input never ends in a traceback or a silent drop: a one-line error, or a recorded reject."""

from __future__ import annotations

from pathlib import Path

import pytest

from goldpan.engine.ledger import verify_run
from tests.conftest import goldpan, read_output, read_rejects, write_recipe

GOOD = b'{"text": "A perfectly ordinary sentence about rivers and hills."}\n'


def _run_file(tmp_path: Path, content: bytes, name: str = "in.jsonl", **input_fields):
    path = tmp_path / name
    path.write_bytes(content)
    recipe = write_recipe(
        tmp_path / "r.yaml",
        input={"paths": [str(path)], **input_fields},
        output={"dir": str(tmp_path / "run")},
        workers=1,
        steps=[],
    )
    return goldpan("run", str(recipe), "-q")


def _reasons(tmp_path: Path) -> dict[str, str]:
    rejects = read_rejects(tmp_path / "run")
    return dict(
        zip(
            rejects.column("id").to_pylist(),
            rejects.column("reject_reason").to_pylist(),
            strict=True,
        )
    )


def _assert_clean(result) -> None:
    assert "Traceback" not in result.stderr + result.stdout


def test_malformed_json_line_is_rejected_with_its_line_and_the_rest_kept(tmp_path: Path) -> None:
    result = _run_file(tmp_path, GOOD + b'{"text": "broken\n' + GOOD)
    _assert_clean(result)
    assert result.returncode == 0
    assert _reasons(tmp_path) == {"in.jsonl:2": "read:malformed_json"}
    assert read_output(tmp_path / "run").column("id").to_pylist() == ["in.jsonl:1", "in.jsonl:3"]
    rejects = read_rejects(tmp_path / "run")
    assert rejects.column("reject_file").to_pylist() == ["in.jsonl"]
    assert rejects.column("reject_line").to_pylist() == [2]
    assert verify_run(tmp_path / "run")[0] == []


def test_invalid_utf8_is_rejected_or_replaced_as_configured(tmp_path: Path) -> None:
    bad = b'{"text": "caf\xe9 au lait, bitte sehr, merci beaucoup"}\n'
    result = _run_file(tmp_path, GOOD + bad)
    _assert_clean(result)
    assert _reasons(tmp_path) == {"in.jsonl:2": "read:invalid_utf8"}

    again = tmp_path / "again"
    again.mkdir()
    replaced = _run_file(again, GOOD + bad, on_invalid_utf8="replace")
    assert replaced.returncode == 0
    texts = read_output(again / "run").column("text").to_pylist()
    assert texts[1].startswith("caf\ufffd au lait")


def test_missing_and_non_string_text_fields_are_rejected(tmp_path: Path) -> None:
    content = GOOD + b'{"title": "no text here"}\n' + b'{"text": 42}\n' + b'{"text": null}\n'
    result = _run_file(tmp_path, content)
    _assert_clean(result)
    assert _reasons(tmp_path) == {
        "in.jsonl:2": "read:missing_text",
        "in.jsonl:3": "read:text_not_string",
        "in.jsonl:4": "read:missing_text",
    }
    assert verify_run(tmp_path / "run")[0] == []


def test_a_json_value_that_is_not_an_object_is_rejected(tmp_path: Path) -> None:
    _run_file(tmp_path, GOOD + b'["a", "list"]\n')
    assert _reasons(tmp_path) == {"in.jsonl:2": "read:not_an_object"}


def test_blank_lines_are_not_documents_and_line_numbers_stay_true(tmp_path: Path) -> None:
    _run_file(tmp_path, GOOD + b"\n   \n" + GOOD)
    assert read_output(tmp_path / "run").column("id").to_pylist() == ["in.jsonl:1", "in.jsonl:4"]


def test_empty_file_gives_an_empty_run_that_verifies(tmp_path: Path) -> None:
    result = _run_file(tmp_path, b"")
    _assert_clean(result)
    assert result.returncode == 0
    assert goldpan("verify", str(tmp_path / "run")).returncode == 0


def test_a_50_mb_document_is_rejected_as_too_long_without_copying_it(tmp_path: Path) -> None:
    huge = b'{"text": "' + b"lorem ipsum " * (50 * 1024 * 1024 // 12) + b'"}\n'
    result = _run_file(tmp_path, GOOD + huge + GOOD)
    _assert_clean(result)
    assert result.returncode == 0
    assert _reasons(tmp_path) == {"in.jsonl:2": "read:text_too_long"}
    assert read_rejects(tmp_path / "run").column("text").to_pylist() == [None]
    assert verify_run(tmp_path / "run")[0] == []


def test_a_50_mb_document_is_kept_whole_when_the_limit_allows(tmp_path: Path) -> None:
    body = "lorem ipsum " * (50 * 1024 * 1024 // 12)
    huge = b'{"text": "' + body.encode() + b'"}\n'
    result = _run_file(tmp_path, huge, max_text_chars=100_000_000)
    assert result.returncode == 0
    assert read_output(tmp_path / "run").column("text").to_pylist() == [body]


def test_missing_input_path_is_a_one_line_error(tmp_path: Path) -> None:
    recipe = write_recipe(
        tmp_path / "r.yaml",
        input={"paths": [str(tmp_path / "nope.jsonl")]},
        output={"dir": str(tmp_path / "run")},
    )
    result = goldpan("run", str(recipe))
    assert result.returncode == 2
    assert "input.paths[0]: no such file or folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    _assert_clean(result)


def test_unwritable_output_folder_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_bytes(GOOD)
    (tmp_path / "a_file").write_text("not a folder")
    recipe = write_recipe(
        tmp_path / "r.yaml",
        input={"paths": [str(tmp_path / "in.jsonl")]},
        output={"dir": str(tmp_path / "a_file" / "run")},
    )
    result = goldpan("run", str(recipe))
    assert result.returncode == 2
    assert "output.dir: cannot write to" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([{"name": "lenght_filter"}], "steps[0].name: unknown step 'lenght_filter'"),
        (
            [{"name": "length_filter", "min_words": "many"}],
            "steps[0].min_words: Input should be a valid integer",
        ),
        ([{"name": "length_filter", "min_word": 3}], "steps[0].min_word: unknown key"),
        ([{"name": "sample", "fraction": 2}], "steps[0].fraction: Input should be less than"),
    ],
)
def test_recipe_mistakes_name_the_key_path(tmp_path: Path, steps, expected: str) -> None:
    (tmp_path / "in.jsonl").write_bytes(GOOD)
    recipe = write_recipe(
        tmp_path / "r.yaml",
        input={"paths": [str(tmp_path / "in.jsonl")]},
        output={"dir": str(tmp_path / "run")},
        steps=steps,
    )
    result = goldpan("run", str(recipe))
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    _assert_clean(result)


def test_wrong_type_at_top_level_and_bad_yaml(tmp_path: Path) -> None:
    recipe = write_recipe(
        tmp_path / "r.yaml", input={"paths": ["x"]}, output={"dir": str(tmp_path)}, workers="two"
    )
    result = goldpan("run", str(recipe))
    assert "r.yaml: workers: Input should be a valid integer" in result.stderr
    (tmp_path / "bad.yaml").write_text("input: [unclosed\n")
    result = goldpan("run", str(tmp_path / "bad.yaml"))
    assert result.returncode == 2 and "not valid YAML" in result.stderr
    _assert_clean(result)


def test_a_step_that_deletes_rows_instead_of_rejecting_them_is_caught(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_bytes(GOOD * 3)
    recipe = write_recipe(
        tmp_path / "r.yaml",
        input={"paths": [str(tmp_path / "in.jsonl")]},
        output={"dir": str(tmp_path / "run")},
        workers=1,
        plugins=["slow_steps"],
        steps=[{"name": "loses_rows"}],
    )
    result = goldpan("run", str(recipe))
    assert result.returncode != 0
    assert "must mark drops in reject_reason" in result.stderr


def test_an_input_that_ends_before_its_listed_size_is_an_error_not_a_shorter_input(
    tmp_path: Path,
) -> None:
    """A file that shrinks after the run listed it (or a store connection that breaks and
    looks like the end of the stream) must not become a run with fewer documents that still
    verifies."""
    from dataclasses import replace

    from goldpan.data.config import InputConfig
    from goldpan.data.inputs import expand_inputs
    from goldpan.data.jsonl import read_jsonl
    from goldpan.errors import GoldpanError

    path = tmp_path / "in.jsonl"
    path.write_bytes(GOOD * 100)
    (unit,) = expand_inputs([str(path)])
    assert sum(seen for _, seen in read_jsonl(unit, InputConfig(paths=[str(path)]))) == 100
    path.write_bytes(GOOD * 60)  # it shrank after listing
    with pytest.raises(GoldpanError, match=r"ended .* bytes before its listed size"):
        list(read_jsonl(unit, InputConfig(paths=[str(path)])))
    ranged = replace(unit, start=len(GOOD) * 50, end=len(GOOD) * 100, first_line=51)
    with pytest.raises(GoldpanError, match="before its listed size"):
        list(read_jsonl(ranged, InputConfig(paths=[str(path)])))


def test_an_empty_id_is_a_missing_id_not_a_duplicate(tmp_path: Path) -> None:
    content = (b'{"id": "", "text": "The first line has an empty id."}\n'
               b'{"id": "", "text": "So does the second, which is no duplicate of it."}\n'
               b'{"id": "k1", "text": "A perfectly ordinary sentence about rivers."}\n')
    result = _run_file(tmp_path, content, id_field="id")
    _assert_clean(result)
    assert result.returncode == 0, result.stderr
    assert _reasons(tmp_path) == {"in.jsonl:1": "read:missing_id", "in.jsonl:2": "read:missing_id"}
    assert read_output(tmp_path / "run").column("id").to_pylist() == ["k1"]
    assert verify_run(tmp_path / "run")[0] == []
