"""The run report: what it shows is what the run did, it needs nothing from the network, and
it survives the awkward runs (nothing kept, columns missing, huge documents)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from goldpan.report import build_report, write_report
from goldpan.report.bins import choose_bins, counted_histogram, histogram_of
from goldpan.report.curation import create_measures, sql_histogram
from goldpan.report.page import Figure, Note, Report, Samples, Table
from goldpan.report.rundata import CurationRun
from tests.conftest import HUGE_CHARS, goldpan, recipe_dict, run_steps_on, write_recipe


def section(report: Report, title: str):
    return next(s for s in report.sections if s.title == title)


def blocks_of(report: Report, title: str, kind: type) -> list:
    return [b for b in section(report, title).blocks if isinstance(b, kind)]


def test_every_run_ends_with_a_report_that_needs_no_network(curated_run: Path) -> None:
    html = (curated_run / "report.html").read_text()
    assert "<script" not in html.lower()
    # The only URL is the SVG namespace, which names a vocabulary and is never fetched.
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<link[^>]+href=\"(?!data:)", html)
    for title in ("Funnel", "Rejects", "Sources", "Tokens", "Distributions",
                  "Scores by source", "Duplicates", "Samples", "Recipe"):
        assert f">{title}</h2>" in html


def test_the_funnel_and_the_reject_table_repeat_the_run_statistics(curated_run: Path) -> None:
    stats = json.loads((curated_run / "stats.json").read_text())
    report = build_report(curated_run)
    funnel = blocks_of(report, "Funnel", Table)[0]
    assert [row[0] for row in funnel.rows] == [s["stage"] for s in stats["stages"]]
    assert [row[3] for row in funnel.rows] == [s["records_out"] for s in stats["stages"]]
    rejects = blocks_of(report, "Rejects", Table)[0]
    expected = {r: n for s in stats["stages"] for r, n in s["rejects"].items()}
    assert {row[1]: row[2] for row in rejects.rows} == expected


def test_sources_count_every_record_once(curated_run: Path) -> None:
    stats = json.loads((curated_run / "stats.json").read_text())
    table = blocks_of(build_report(curated_run), "Sources", Table)[0]
    read = sum(row[1] for row in table.rows)
    kept = sum(row[2] for row in table.rows)
    assert read == stats["stages"][0]["records_in"]
    assert kept == stats["output"]["records"]
    assert {row[0] for row in table.rows} == {"wikipedia_en", "news", "code", "chat", "markov"}


def test_histograms_cover_every_value_of_every_numeric_column(curated_run: Path) -> None:
    run = CurationRun(curated_run)
    create_measures(run)
    scored = run.scalar("SELECT count(s_score) FROM records")
    _, counts = sql_histogram(run, "s_score", "status")
    assert sum(sum(c) for c in counts.values()) == scored
    kept = run.scalar("SELECT count(s_score) FROM kept")
    assert sum(counts["kept"]) == kept
    captions = [b.caption for b in blocks_of(build_report(curated_run), "Distributions", Figure)]
    assert any(c.startswith("s_score:") for c in captions)
    assert any(c.startswith("length in characters:") for c in captions)
    run.close()


def test_scores_by_source_give_the_share_of_positive_s_per_source(curated_run: Path) -> None:
    run = CurationRun(curated_run)
    expected = dict(run.rows(
        "SELECT source, avg(CAST(s_score > 0 AS DOUBLE)) FROM records GROUP BY 1"
    ))
    expected["all"] = run.scalar("SELECT avg(CAST(s_score > 0 AS DOUBLE)) FROM records")
    run.close()
    table = blocks_of(build_report(curated_run), "Scores by source", Table)[0]
    shares = {row[1]: row[-1] for row in table.rows if row[0] == "s_score"}
    assert shares == pytest.approx(expected, abs=1e-4)  # stats.json keeps four decimals


def test_duplicate_clusters_count_the_kept_document_and_its_copies(curated_run: Path) -> None:
    table = blocks_of(build_report(curated_run), "Duplicates", Table)[0]
    row = next(r for r in table.rows if r[0] == "exact_dedup")
    clusters, removed, largest = row[1], row[2], row[4]
    assert largest == 3  # a document and its two copies
    assert removed >= 3 and clusters >= 2
    run = CurationRun(curated_run)
    assert run.scalar("SELECT count(*) FROM rejected WHERE reject_step = 'exact_dedup'") == removed
    run.close()


def test_samples_cut_huge_documents_and_say_how_long_they_are(curated_run: Path) -> None:
    report = build_report(curated_run)
    documents = [d for s in blocks_of(report, "Samples", Samples) for d in s.documents]
    assert documents and all(len(d.text) <= 600 for d in documents)
    long_ones = [d for d in documents if d.length and d.length > 600]
    assert long_ones and all(d.truncated for d in long_ones)
    html = (curated_run / "report.html").read_text()
    assert len(html) < HUGE_CHARS  # the 400,000-character document is never in the page whole


def test_a_run_that_keeps_nothing_still_gets_a_report(corpus: Path, tmp_path: Path) -> None:
    run_steps_on(corpus, tmp_path / "run", [{"name": "length_filter", "min_words": 10**6}])
    report = build_report(tmp_path / "run")
    assert any(isinstance(b, Note) and "No record was kept" in b.text
               for b in section(report, "Samples").blocks)
    tokens = blocks_of(report, "Tokens", Table)[0]
    assert tokens.rows[-1][1] == 0  # all sources: zero kept records
    assert (tmp_path / "run" / "report.html").exists()


def test_a_run_without_steps_or_rejects_still_gets_a_report(corpus: Path, tmp_path: Path) -> None:
    run_steps_on(corpus, tmp_path / "run", [])
    report = build_report(tmp_path / "run")
    assert any(isinstance(b, Note) and "No record was rejected" in b.text
               for b in section(report, "Rejects").blocks)
    assert "Duplicates" not in [s.title for s in report.sections]


def test_the_report_command_and_its_one_line_errors(curated_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere.html"
    result = goldpan("report", str(curated_run), "--out", str(out))
    assert result.returncode == 0 and out.stat().st_size > 10_000
    missing = goldpan("report", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such run directory" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = goldpan("report", str(tmp_path / "empty"))
    assert empty.returncode == 2 and "not a goldpan run directory" in empty.stderr
    assert "Traceback" not in missing.stderr + empty.stderr


def test_a_recipe_can_turn_the_report_off(corpus: Path, tmp_path: Path) -> None:
    data = recipe_dict([str(corpus)], tmp_path / "run", steps=[])
    data["output"]["report"] = False
    goldpan("run", str(write_recipe(tmp_path / "r.yaml", **data)), "-q", check=True)
    assert not (tmp_path / "run" / "report.html").exists()
    write_report(tmp_path / "run")
    assert (tmp_path / "run" / "report.html").exists()


# ---------------------------------------------------------------------------- bins
def test_lengths_get_logarithmic_bins_and_small_counts_one_bin_per_value() -> None:
    lengths = np.concatenate([np.full(1000, 300.0), [5.0, 250_000.0]])
    bins, counts = histogram_of({"docs": lengths})
    assert bins.log and sum(counts["docs"]) == lengths.size
    pii, counts = histogram_of({"docs": [0, 0, 0, 1, 2, 2]})
    assert pii.discrete and counts["docs"] == [3, 1, 2]


def test_a_far_tail_is_clamped_into_the_last_linear_bin() -> None:
    bins = choose_bins(-2.0, 500.0, 0.1, 1.0, integer=False)
    assert not bins.log  # negative values: no log scale
    values = np.array([-2.0, 0.0, 0.5, 500.0])
    assert bins.index(values).tolist()[-1] == bins.count - 1


def test_the_sql_bin_index_equals_the_numpy_one() -> None:
    import duckdb

    values = np.array([0.0, 1.0, 7.5, 99.0, 1234.0, 98_765.0, 250_000.0])
    for bins in (choose_bins(0, 250_000, 50, 200_000, False), choose_bins(0, 99, 50, 98, False)):
        expected = bins.index(values).tolist()
        sql = f"SELECT {bins.sql_index('v')} FROM (SELECT unnest(?) AS v)"
        got = [row[0] for row in duckdb.execute(sql, [values.tolist()]).fetchall()]
        assert got == expected


def test_counted_values_bin_like_repeated_ones() -> None:
    bins, counts = counted_histogram([2, 3, 7], [10, 4, 1])
    assert bins.discrete and sum(counts) == 15 and counts[0] == 10


def test_markup_in_the_data_is_shown_as_text_never_run(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ElementTree

    from fastapi.testclient import TestClient

    from goldpan.report.inspector import create_app

    hostile = '<script>alert("x")</script> & <b>'
    path = tmp_path / "input.jsonl"
    rows = [{"id": f"d{i}", "text": f"{hostile} document number {i} " * 5, "source": hostile}
            for i in range(30)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_steps_on(path, tmp_path / "run", [{"name": "length_filter", "min_words": 40}])
    html = (tmp_path / "run" / "report.html").read_text()
    assert "<script" not in html and "&lt;script&gt;" in html
    charts = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(charts) >= 4 and any("&lt;script&gt;" in svg for svg in charts)
    for svg in charts:
        ElementTree.fromstring(svg)  # well-formed: every label escaped
    page = TestClient(create_app(tmp_path / "run")).get("/").text
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page


def test_a_run_missing_its_part_files_gets_one_line(corpus: Path, tmp_path: Path) -> None:
    run_steps_on(corpus, tmp_path / "run", [{"name": "exact_dedup"}])
    for part in (tmp_path / "run" / "stages").glob("01-*/part-*.parquet"):
        part.unlink()
    result = goldpan("report", str(tmp_path / "run"))
    assert result.returncode == 2 and "part file(s) of the last stage are missing" in result.stderr
    assert "Traceback" not in result.stderr
