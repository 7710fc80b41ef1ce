"""Real text for specification tests, read from the embedded packages (no network)."""

from __future__ import annotations

import re
from functools import lru_cache

import pyarrow as pa

from goldpan.data.demo_corpus import news, stdlib_code, wikipedia
from goldpan.data.schema import TEXT_TYPE


@lru_cache(maxsize=1)
def news_articles() -> list[str]:
    return [doc["text"] for doc in news()]


def article(index: int = 0) -> str:
    """A news article from gensim's Lee corpus: one line, ordinary English prose."""
    return news_articles()[index]


def article_with_sentences(count: int, skip: int = 0) -> str:
    """The first news article (after ``skip`` such articles) with at least ``count`` sentences."""
    found = [t for t in news_articles() if len(sentences(t)) >= count]
    return found[skip]


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


@lru_cache(maxsize=1)
def wikipedia_titles() -> list[str]:
    return [doc["title"] for doc in wikipedia("en")]


@lru_cache(maxsize=1)
def summaries(language: str = "en") -> list[str]:
    return [doc["text"] for doc in wikipedia(language) if doc["text"]]


def python_source(name: str = "json/decoder.py") -> str:
    return next(doc["text"] for doc in stdlib_code() if doc["path"] == name)


def batch(texts: list[str]) -> pa.Table:
    return pa.table(
        {
            "id": [f"d{i}" for i in range(len(texts))],
            "text": pa.array(texts, TEXT_TYPE),
            "source": ["test"] * len(texts),
        }
    )


def reasons(step, texts: list[str]) -> list[str | None]:
    return step.process(batch(texts)).column("reject_reason").to_pylist()


def reason(step, text: str) -> str | None:
    return reasons(step, [text])[0]
