"""Boilerplate line removal and benchmark decontamination on real text."""

from __future__ import annotations

from pathlib import Path

import orjson

from goldpan.curate.decontaminate import Decontaminate
from goldpan.curate.dedup.lines import LineDedup, normalize_line
from goldpan.engine.step import FitContext
from goldpan.engine.tasks import run_steps
from tests.realtext import article, batch, news_articles, reasons, summaries

CONTEXT = FitContext(Path("/nonexistent"))  # these steps write nothing to their folder

FOOTER = "This story was first published by ABC News Online; (c) 2001 ABC."


def dedup(step: LineDedup, parts: list[list[str]]):
    tables = [batch(texts) for texts in parts]
    tables = [
        t.set_column(0, "id", [[f"p{i}-{r}" for r in range(t.num_rows)]])
        for i, t in enumerate(tables)
    ]
    state = step.merge([step.fit_part(t, i, CONTEXT) for i, t in enumerate(tables)], CONTEXT)
    return [run_steps(t, [step], state) for t in tables]


def test_normalisation_ignores_case_digits_punctuation_and_spacing() -> None:
    assert normalize_line("  Copyright (C) 2001,  ABC!") == normalize_line("copyright c 1999 abc")


def test_repeated_footer_is_cut_after_its_first_occurrence_across_parts() -> None:
    texts = [f"{article(i)}\n{FOOTER}" for i in range(6)]
    results = dedup(LineDedup(), [texts[:3], texts[3:]])
    kept = [text for table, _, _ in results for text in table.column("text").to_pylist()]
    assert kept[0] == texts[0]
    assert all(text == article(i) for i, text in enumerate(kept) if i > 0)
    removed = [n for table, _, _ in results for n in table.column("lines_removed").to_pylist()]
    assert removed == [0, 1, 1, 1, 1, 1]


def test_max_count_sets_how_often_a_line_may_repeat() -> None:
    step = LineDedup(LineDedup.Options(max_count=2))
    twice = dedup(step, [[f"{article(0)}\n{FOOTER}", f"{article(1)}\n{FOOTER}"]])
    assert twice[0][0].column("lines_removed").to_pylist() == [0, 0]
    thrice = dedup(step, [[f"{article(i)}\n{FOOTER}" for i in range(3)]])
    assert thrice[0][0].column("lines_removed").to_pylist() == [0, 1, 1]


def test_a_document_of_only_boilerplate_is_rejected_with_a_reason() -> None:
    results = dedup(LineDedup(), [[f"{article(0)}\n{FOOTER}", FOOTER]])
    kept, rejected, _ = results[0]
    assert kept.num_rows == 1
    assert rejected[0].column("reject_reason").to_pylist() == ["line_dedup:empty"]


def test_usenet_headers_repeat_and_are_cut() -> None:
    from goldpan.data.demo_corpus import usenet

    posts = [post["text"] for post in usenet()][:40]
    results = dedup(LineDedup(LineDedup.Options(min_chars=10)), [posts])
    assert sum(results[0][0].column("lines_removed").to_pylist()) > 20


def write_benchmark(path: Path, questions: list[str]) -> Path:
    path.write_bytes(
        b"".join(orjson.dumps({"question": q, "answer": "42"}) + b"\n" for q in questions)
    )
    return path


def test_text_sharing_a_13_gram_with_a_benchmark_is_rejected(tmp_path: Path) -> None:
    questions = summaries()[:30]
    bench = write_benchmark(tmp_path / "quiz.jsonl", questions)
    step = Decontaminate(
        Decontaminate.Options(
            benchmarks=[{"name": "quiz", "path": str(bench), "fields": ["question", "answer"]}]
        )
    )
    leaked_words = questions[5].split()[:13]
    leaked = article(0) + " " + " ".join(leaked_words).upper() + "!!"  # case and punctuation
    near_miss = article(1) + " " + " ".join(questions[5].split()[:12])
    assert reasons(step, [leaked, near_miss, article(2)]) == ["decontaminate:quiz", None, None]


def test_cut_mode_removes_the_matching_span_with_its_margin(tmp_path: Path) -> None:
    question = summaries()[3]
    bench = write_benchmark(tmp_path / "quiz.jsonl", [question])
    step = Decontaminate(
        Decontaminate.Options(
            benchmarks=[{"name": "quiz", "path": str(bench), "fields": ["question"]}],
            mode="cut",
            cut_margin=0,
            min_chars_after_cut=100,
        )
    )
    text = article(4) + "\n" + question + "\n" + article(5)
    result = step.process(batch([text]))
    cleaned = result.column("text").to_pylist()[0]
    assert question not in cleaned
    assert cleaned.startswith(article(4)[:200]) and cleaned.endswith(article(5)[-200:])
    assert result.column("contaminated_by").to_pylist() == ["quiz"]
    assert result.column("reject_reason").to_pylist() == [None]
    only_leak = step.process(batch([question])).column("reject_reason").to_pylist()
    assert only_leak == ["decontaminate:quiz:cut_too_short"]


def test_clean_corpus_passes_untouched(tmp_path: Path) -> None:
    bench = write_benchmark(tmp_path / "quiz.jsonl", summaries()[:100])
    step = Decontaminate(
        Decontaminate.Options(
            benchmarks=[{"name": "quiz", "path": str(bench), "fields": ["question"]}]
        )
    )
    assert set(reasons(step, news_articles()[:50])) == {None}
