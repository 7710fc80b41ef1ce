"""The first steps: length bounds, exact duplicates, seeded samples."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from goldpan.curate.dedup.exact import ExactDedup
from goldpan.curate.length import LengthFilter
from goldpan.curate.sample import Sample
from goldpan.engine.step import FitContext
from goldpan.engine.tasks import run_steps

CONTEXT = FitContext(Path("/nonexistent"))  # these steps write nothing to their folder

NEWS = (
    "Hundreds of people have been forced to vacate their homes in the Southern Highlands of "
    "New South Wales as strong winds today pushed a huge bushfire towards the town of Hill Top."
)


def _batch(texts: list[str], ids: list[str] | None = None) -> pa.Table:
    ids = ids or [f"d{i}" for i in range(len(texts))]
    return pa.table(
        {"id": ids, "text": pa.array(texts, pa.large_string()), "source": ["test"] * len(texts)}
    )


def _reasons(step, batch: pa.Table) -> list[str | None]:
    return step.process(batch).column("reject_reason").to_pylist()


def test_length_filter_rejects_below_and_above_word_and_char_bounds() -> None:
    step = LengthFilter(LengthFilter.Options(min_words=5, max_words=30, max_chars=150))
    texts = ["Too short to keep.", "Exactly five words here, friend.", NEWS, NEWS[:140]]
    assert _reasons(step, _batch(texts)) == [
        "length_filter:min_words",
        None,
        "length_filter:max_chars",
        None,
    ]
    long_words = LengthFilter(LengthFilter.Options(max_words=10))
    assert _reasons(long_words, _batch([NEWS])) == ["length_filter:max_words"]


def test_length_filter_counts_unicode_characters_not_bytes() -> None:
    step = LengthFilter(LengthFilter.Options(max_chars=5))
    assert _reasons(step, _batch(["ééééé", "éééééé"])) == [None, "length_filter:max_chars"]


def test_length_filter_options_must_be_ordered() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"min_words .* is larger than max_words"):
        LengthFilter.Options(min_words=10, max_words=5)


def test_exact_dedup_keeps_the_first_copy_and_names_it_in_the_rejects() -> None:
    step = ExactDedup()
    parts = [
        _batch([NEWS, "Another text entirely."], ["a", "b"]),
        _batch(["  " + NEWS.upper() + "\n", "Another  text entirely."], ["c", "d"]),
    ]
    state = step.merge([step.fit_part(p, i, CONTEXT) for i, p in enumerate(parts)], CONTEXT)
    kept, rejected, counts = run_steps(parts[1], [step], state)
    assert kept.num_rows == 0
    assert rejected[0].column("reject_duplicate_of").to_pylist() == ["a", "b"]
    assert counts[0].rejects == {"exact_dedup:duplicate": 2}
    kept, _, _ = run_steps(parts[0], [step], state)
    assert kept.column("id").to_pylist() == ["a", "b"]


def test_exact_dedup_without_normalisation_keeps_case_variants() -> None:
    step = ExactDedup(ExactDedup.Options(normalize=False))
    batch = _batch([NEWS, NEWS.upper(), NEWS])
    state = step.merge([step.fit_part(batch, 0, CONTEXT)], CONTEXT)
    assert _reasons_apply(step, batch, state) == [None, None, "exact_dedup:duplicate"]


def test_exact_dedup_keep_longest_prefers_the_longer_copy() -> None:
    step = ExactDedup(ExactDedup.Options(keep="longest"))
    batch = _batch([NEWS, NEWS + "   "], ["short", "long"])
    state = step.merge([step.fit_part(batch, 0, CONTEXT)], CONTEXT)
    assert _reasons_apply(step, batch, state) == ["exact_dedup:duplicate", None]


def test_exact_dedup_choice_does_not_depend_on_how_parts_are_merged() -> None:
    step = ExactDedup()
    parts = [_batch([NEWS], ["x"]), _batch([NEWS], ["y"])]
    summaries = [step.fit_part(p, i, CONTEXT) for i, p in enumerate(parts)]
    assert step.merge(summaries, CONTEXT) == step.merge(list(reversed(summaries)), CONTEXT)


def _reasons_apply(step, batch, state) -> list[str | None]:
    return step.apply(batch, state).column("reject_reason").to_pylist()


def test_sample_keeps_about_the_fraction_and_depends_only_on_id_and_seed() -> None:
    ids = [f"doc-{i}" for i in range(4000)]
    batch = _batch(["x"] * len(ids), ids)
    step = Sample(Sample.Options(fraction=0.25), seed=7)
    kept = [r is None for r in _reasons(step, batch)]
    assert 0.22 < sum(kept) / len(kept) < 0.28
    halves = [_reasons(step, batch.slice(0, 2000)), _reasons(step, batch.slice(2000))]
    assert [r is None for r in halves[0] + halves[1]] == kept
    other_seed = Sample(Sample.Options(fraction=0.25), seed=8)
    assert [r is None for r in _reasons(other_seed, batch)] != kept


def test_samples_with_the_same_seed_nest() -> None:
    ids = [f"doc-{i}" for i in range(2000)]
    batch = _batch(["x"] * len(ids), ids)
    small = _reasons(Sample(Sample.Options(fraction=0.1)), batch)
    large = _reasons(Sample(Sample.Options(fraction=0.5)), batch)
    assert all(big is None for tiny, big in zip(small, large, strict=True) if tiny is None)


def test_length_filter_counts_no_words_in_empty_or_padded_texts() -> None:
    step = LengthFilter(LengthFilter.Options(min_words=1, max_words=2))
    assert _reasons(step, _batch(["", "   ", "  two words  "])) == [
        "length_filter:min_words",
        "length_filter:min_words",
        None,
    ]
