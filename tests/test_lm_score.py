"""LM scoring mechanics on a tiny random model, and one real-model check (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from goldpan.models.load import load
from goldpan.score.lm import LmScore, sequence, windows
from tests.realtext import article, batch, news_articles


def step(model: Path, **options) -> LmScore:
    return LmScore(LmScore.Options(model=str(model), **options))


def scores(model: Path, texts: list[str], **options) -> dict[str, list]:
    table = step(model, **options).process(batch(texts))
    return {name: table.column(name).to_pylist() for name in table.column_names}


def test_reverse_reads_tokens_backwards_with_the_start_token_first() -> None:
    assert sequence([5, 6, 7], "forward", 1) == [1, 5, 6, 7]
    assert sequence([5, 6, 7], "reverse", 1) == [1, 7, 6, 5]
    assert sequence([5, 6, 7], "reverse", None) == [7, 6, 5]


@pytest.mark.parametrize(
    ("length", "max_length", "stride"),
    [(10, 16, 8), (100, 16, 8), (101, 16, 15), (33, 16, 1), (40, 16, 14)],
)
def test_windows_score_every_token_after_the_first_exactly_once(length, max_length, stride) -> None:
    tokens = list(range(length))
    scored = []
    for window in windows(0, tokens, max_length, stride, "window"):
        assert len(window.tokens) <= max_length and window.score_from >= 1
        scored += window.tokens[window.score_from :]
    assert scored == tokens[1:]
    truncated = windows(0, tokens, max_length, stride, "truncate")
    assert len(truncated) == 1 and len(truncated[0].tokens) == min(length, max_length)


@pytest.mark.parametrize(
    ("length", "max_length", "stride"),
    [(10, 16, 8), (100, 16, 8), (101, 16, 15), (33, 16, 1), (40, 16, 14)],
)
def test_every_window_begins_with_the_start_token_as_training_chunks_do(
    length, max_length, stride
) -> None:
    start = -1
    tokens = list(range(length))
    scored = []
    for window in windows(0, tokens, max_length, stride, "window", start):
        assert window.tokens[0] == start and start not in window.tokens[1:]
        assert len(window.tokens) <= max_length and window.score_from >= 1
        scored += window.tokens[window.score_from :]
    assert scored == tokens  # the first token too, predicted from the start token
    (truncated,) = windows(0, tokens, max_length, stride, "truncate", start)
    assert truncated.tokens == [start, *tokens[: max_length - 1]]


def test_forward_loss_equals_the_models_own_loss(tiny_lm: Path) -> None:
    text = article(0)[:300]
    result = scores(tiny_lm, [text])
    loaded = load(str(tiny_lm))
    ids = [loaded.tokenizer.bos_token_id] + loaded.tokenizer(text, add_special_tokens=False)[
        "input_ids"
    ]
    with torch.inference_mode():
        expected = loaded.model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids])).loss
    assert result["fwd_loss"][0] == pytest.approx(float(expected), rel=1e-5)
    assert result["n_tokens"][0] == len(ids) - 1
    assert result["fwd_nll"][0] == pytest.approx(result["fwd_loss"][0] * (len(ids) - 1), rel=1e-6)


def test_reverse_loss_is_the_loss_of_the_reversed_token_sequence(tiny_lm: Path) -> None:
    text = article(1)[:300]
    loaded = load(str(tiny_lm))
    ids = loaded.tokenizer(text, add_special_tokens=False)["input_ids"]
    sequence_ids = [loaded.tokenizer.bos_token_id, *ids[::-1]]
    with torch.inference_mode():
        expected = loaded.model(
            input_ids=torch.tensor([sequence_ids]), labels=torch.tensor([sequence_ids])
        ).loss
    result = scores(tiny_lm, [text], direction="reverse")
    assert result["rev_loss"][0] == pytest.approx(float(expected), rel=1e-5)
    assert "fwd_loss" not in result


def test_a_records_loss_does_not_depend_on_its_batch_mates(tiny_lm: Path) -> None:
    texts = [a[:400] for a in news_articles()[:6]]
    together = scores(tiny_lm, texts, batch_tokens=4096)["fwd_loss"]
    alone = [scores(tiny_lm, [t])["fwd_loss"][0] for t in texts]
    np.testing.assert_allclose(together, alone, rtol=1e-5)


def test_long_texts_are_scored_in_windows_covering_every_token(tiny_lm: Path) -> None:
    text = article(2)
    loaded = load(str(tiny_lm))
    count = len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])
    assert count > 64
    windowed = scores(tiny_lm, [text], max_length=32, stride=16)
    truncated = scores(tiny_lm, [text], max_length=32, stride=16, long_texts="truncate")
    full = scores(tiny_lm, [text], max_length=512, stride=256)
    assert windowed["n_tokens"] == full["n_tokens"] == [count]
    assert truncated["n_tokens"] == [31]
    assert windowed["fwd_loss"][0] == pytest.approx(full["fwd_loss"][0], rel=0.05)


def test_texts_with_nothing_to_score_are_rejected_and_others_never_raise(tiny_lm: Path) -> None:
    result = scores(
        tiny_lm,
        ["", "a", "¿Dónde está la biblioteca? 图书馆在哪里？", "x" * 5000],
        max_length=64,
        stride=32,
    )
    assert result["reject_reason"][0] == "lm_score:no_tokens"
    assert result["fwd_loss"][0] is None
    assert result["reject_reason"][1:] == [None, None, None]
    assert result["n_tokens"][1] >= 1


@pytest.mark.slow
def test_smollm2_finds_real_prose_easier_than_the_same_words_shuffled() -> None:
    import random

    rng = random.Random(0)
    texts = [a[:600] for a in news_articles()[:4]]
    shuffled = []
    for text in texts:
        words = text.split()
        rng.shuffle(words)
        shuffled.append(" ".join(words))
    result = scores("smollm2-135m-instruct", texts + shuffled, max_length=256, stride=128)
    losses = result["fwd_loss"]
    assert all(losses[i] + 1.0 < losses[i + 4] for i in range(4))
    assert all(2.0 < loss < 6.0 for loss in losses[:4])
