"""The inspector's behaviour through its HTTP interface: filters, search, sort, pages and the
record page agree with the run's data, and bad requests get one-line answers."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from goldpan.report.inspector import create_app
from goldpan.report.rundata import CurationRun
from tests.conftest import HUGE_CHARS, goldpan, run_steps_on


@pytest.fixture(scope="module")
def client(curated_run: Path) -> TestClient:
    return TestClient(create_app(curated_run))


@pytest.fixture(scope="module")
def truth(curated_run: Path):
    run = CurationRun(curated_run)
    yield run
    run.close()


def records(client: TestClient, **params) -> dict:
    response = client.get("/api/records", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_list_holds_every_record_kept_or_rejected(client: TestClient, truth) -> None:
    assert records(client)["total"] == truth.scalar("SELECT count(*) FROM records")
    assert records(client, status="kept")["total"] == truth.scalar("SELECT count(*) FROM kept")
    rejected = records(client, status="rejected", per_page=500)
    assert rejected["total"] == truth.scalar("SELECT count(*) FROM rejected")
    assert all(r["status"] == "rejected" and r["reject_reason"] for r in rejected["records"])


def test_filters_by_reason_source_and_step_combine(client: TestClient, truth) -> None:
    reason, expected = truth.rows(
        "SELECT reject_reason, count(*) FROM rejected GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    )[0]
    found = records(client, reason=reason, per_page=500)
    assert found["total"] == expected
    assert {r["reject_reason"] for r in found["records"]} == {reason}
    both = records(client, reason=reason, source="wikipedia_en")["total"]
    assert both == truth.scalar(
        "SELECT count(*) FROM rejected WHERE reject_reason = ? AND source = 'wikipedia_en'",
        [reason],
    )
    step = records(client, step="exact_dedup", per_page=500)["records"]
    assert {r["id"] for r in step} >= {"copy-a-1", "copy-a-2", "copy-b-1"}


def test_search_needs_every_word_and_keeps_phrases_whole(client: TestClient, truth) -> None:
    def count(where: str) -> int:
        return truth.scalar(f"SELECT count(*) FROM records WHERE {where}")

    assert records(client, q="the")["total"] == count("text ILIKE '%the%'")
    assert records(client, q="cell membrane")["total"] == count(
        "text ILIKE '%cell%' AND text ILIKE '%membrane%'"
    )
    assert records(client, q='"cell membrane"')["total"] == count("text ILIKE '%cell membrane%'")
    assert records(client, q="100%")["total"] == count("contains(lower(text), '100%')")


def test_score_ranges_and_sorting(client: TestClient, truth) -> None:
    high = records(client, **{"min:s_score": 0.5, "sort": "s_score", "order": "desc"})
    assert high["total"] == truth.scalar("SELECT count(*) FROM records WHERE s_score >= 0.5")
    scores = [r["s_score"] for r in high["records"]]
    assert scores == sorted(scores, reverse=True) and min(scores) >= 0.5
    band = records(client, **{"min:s_score": -0.1, "max:s_score": 0.1})
    assert band["total"] == truth.scalar(
        "SELECT count(*) FROM records WHERE s_score BETWEEN -0.1 AND 0.1"
    )
    by_id = [r["id"] for r in records(client, sort="id", per_page=30)["records"]]
    assert by_id == sorted(by_id)


@pytest.mark.parametrize("deep_offset", [5_000, 0], ids=["one-step", "ids-first"])
def test_pages_are_disjoint_and_cover_the_run(
    client: TestClient, truth, monkeypatch: pytest.MonkeyPatch, deep_offset: int
) -> None:
    from goldpan.report import query

    monkeypatch.setattr(query, "DEEP_OFFSET", deep_offset)
    total = truth.scalar("SELECT count(*) FROM records")
    seen: list[str] = []
    page = 1
    while True:
        batch = records(client, page=page, per_page=200)["records"]
        if not batch:
            break
        seen += [r["id"] for r in batch]
        page += 1
    assert len(seen) == len(set(seen)) == total
    in_file_order = [r[0] for r in truth.rows("SELECT id FROM records")]
    assert seen == in_file_order


def test_lists_cut_huge_texts_and_the_record_page_shows_them_whole(client: TestClient) -> None:
    listed = records(client, q="", sort="id", per_page=500, source="wikipedia_en")["records"]
    huge = next(r for r in listed if r["id"] == "huge-0")
    assert len(huge["text_start"]) <= 240 and huge["text_chars"] == HUGE_CHARS
    page = client.get("/record", params={"id": "huge-0"})
    assert page.status_code == 200 and len(page.text) > HUGE_CHARS
    whole = client.get("/api/record", params={"id": "huge-0"}).json()
    assert len(whole["text"]) == HUGE_CHARS and "s_score" in whole


def test_unknown_records_and_bad_parameters_get_one_line_answers(client: TestClient) -> None:
    missing = client.get("/record", params={"id": "no-such-id"})
    assert missing.status_code == 404 and "no record with id" in missing.text
    for params, message in (
        ({"page": "two"}, "page: expected a number"),
        ({"sort": "no_such_column"}, "cannot sort by 'no_such_column'"),
        ({"status": "maybe"}, "status: expected one of"),
        ({"min:s_score": "high"}, "min:s_score: expected a number"),
    ):
        response = client.get("/api/records", params=params)
        assert response.status_code == 400 and message in response.json()["error"]
        assert client.get("/", params=params).status_code == 400


def test_values_never_become_sql(client: TestClient) -> None:
    attack = "x' OR '1'='1"
    assert records(client, reason=attack)["total"] == 0
    assert records(client, q=attack)["total"] == 0
    assert client.get("/api/records", params={"sort": 'id" DESC; --'}).status_code == 400


def test_a_run_that_keeps_nothing_can_be_inspected(corpus: Path, tmp_path: Path) -> None:
    run_steps_on(corpus, tmp_path / "run", [{"name": "length_filter", "min_words": 10**6}])
    client = TestClient(create_app(tmp_path / "run"))
    assert records(client, status="kept")["total"] == 0
    assert records(client, status="rejected")["total"] > 0
    assert "No record matches" in client.get("/", params={"status": "kept"}).text


def test_the_command_refuses_a_busy_port_and_a_folder_that_is_not_a_run(
    curated_run: Path, tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = goldpan("inspect", str(curated_run), "--port", str(port))
    assert result.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    (tmp_path / "empty").mkdir()
    other = goldpan("inspect", str(tmp_path / "empty"), "--port", "1")
    assert other.returncode == 2 and "not a finished `goldpan run` directory" in other.stderr
    assert "Traceback" not in result.stderr + other.stderr


def test_runs_written_as_jsonl_are_inspected_from_their_last_stage(
    corpus: Path, tmp_path: Path
) -> None:
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe
    from goldpan.report import write_report
    from tests.conftest import recipe_dict

    data = recipe_dict([str(corpus)], tmp_path / "run", steps=[{"name": "exact_dedup"}])
    data["output"]["format"] = "jsonl"
    result = run_recipe(parse_recipe(data))
    client = TestClient(create_app(tmp_path / "run"))
    assert records(client, status="kept")["total"] == result.output_records > 0
    assert write_report(tmp_path / "run").exists()


def test_a_search_counts_up_to_a_cap_and_still_pages_on(
    client: TestClient, truth, monkeypatch: pytest.MonkeyPatch
) -> None:
    from goldpan.report import query

    monkeypatch.setattr(query, "SEARCH_COUNT_CAP", 20)
    matches = truth.scalar("SELECT count(*) FROM records WHERE text ILIKE '%the%'")
    assert matches > 40
    first = records(client, q="the", per_page=10)
    assert first["total"] == 20 and first["total_is_exact"] is False
    third = records(client, q="the", per_page=10, page=3)["records"]
    assert len(third) == 10  # beyond the counted 20, pages keep coming
    page = client.get("/", params={"q": "the", "per_page": 10, "page": 2}).text
    assert "of 20+" in page and 'rel="next"' in page
    assert records(client, status="kept")["total_is_exact"] is True
