"""``decontaminate``: drop or cut training text that overlaps evaluation benchmarks.

Following GPT-3 (Brown et al. 2020, Appendix C), a document is contaminated when it shares a
13-gram of words with a benchmark example. Benchmarks are JSONL files named in the recipe with
the fields whose text counts (question, answer, ...). Words are lower-cased runs of letters and
digits, so punctuation and spacing differences do not hide an overlap. With ``mode: reject``
a contaminated record is rejected as ``decontaminate:<benchmark>``; with ``mode: cut`` the
matching spans are cut out, with ``cut_margin`` characters on each side (GPT-3 used 200), and
only a record left shorter than ``min_chars_after_cut`` is rejected.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

import numpy as np
import orjson
import pyarrow as pa
import regex
from pydantic import BaseModel, ConfigDict, Field

from goldpan.curate.hashing import ngram_hashes, word_hashes
from goldpan.data.schema import TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions, with_column, with_reject_reasons, with_texts
from goldpan.errors import GoldpanError
from goldpan.util.storage import to_path

_WORD = regex.compile(r"[\p{L}\p{N}]+")


class Benchmark(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Label used in the reject reason.")
    path: str = Field(description="A JSONL file of benchmark examples.")
    fields: list[str] = Field(["text"], description="Fields whose text is matched.")


class DecontaminateOptions(StepOptions):
    benchmarks: list[Benchmark] = Field(description="Benchmark files to decontaminate against.")
    ngram: int = Field(13, ge=1, description="Words per n-gram (GPT-3: 13).")
    mode: Literal["reject", "cut"] = Field("reject", description="Reject the record or cut spans.")
    cut_margin: int = Field(200, ge=0, description="Characters cut on each side of a match.")
    min_chars_after_cut: int = Field(200, ge=0, description="Shorter leftovers are rejected.")


def word_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    words, spans = [], []
    for match in _WORD.finditer(text.lower()):
        words.append(match.group(0))
        spans.append(match.span())
    return words, spans


def text_ngrams(text: str, n: int) -> np.ndarray:
    words, _ = word_spans(text)
    return ngram_hashes(word_hashes(words), n)


@register_step
class Decontaminate(MapStep[DecontaminateOptions]):
    """Reject (or cut) text sharing a word 13-gram with a benchmark, as GPT-3 did."""

    name = "decontaminate"
    text_side = "prompt"

    @property
    def rewrites_text(self) -> bool:  # type: ignore[override]  # per options, not per class
        """Cutting rewrites each turn; rejecting judges the chosen turns joined, so that an
        n-gram spanning two turns counts too."""
        return self.options.mode == "cut"

    @cached_property
    def _index(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted benchmark n-gram hashes and, aligned, the benchmark each came from."""
        o = self.options
        hashes, owners = [], []
        for number, benchmark in enumerate(o.benchmarks):
            path = to_path(benchmark.path)
            if not path.is_file():
                raise GoldpanError(f"decontaminate: benchmark {benchmark.name}: no file {path}")
            for line_number, line in enumerate(path.open("rb"), start=1):
                if not line.strip():
                    continue
                try:
                    example = orjson.loads(line)
                except orjson.JSONDecodeError:
                    example = None
                if not isinstance(example, dict):
                    raise GoldpanError(
                        f"decontaminate: {path}:{line_number}: expected a JSON object"
                    )
                text = "\n".join(str(example.get(f, "")) for f in benchmark.fields)
                grams = text_ngrams(text, o.ngram)
                hashes.append(grams)
                owners.append(np.full(len(grams), number, dtype=np.int32))
        if not hashes:
            return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int32)
        values, owner = np.concatenate(hashes), np.concatenate(owners)
        order = np.argsort(values, kind="stable")
        return values[order], owner[order]

    def _matches(self, grams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each n-gram position: contaminated?, and by which benchmark."""
        values, owner = self._index
        if not len(values) or not len(grams):
            return np.zeros(len(grams), dtype=bool), np.zeros(len(grams), dtype=np.int32)
        where = np.clip(np.searchsorted(values, grams), 0, len(values) - 1)
        return values[where] == grams, owner[where]

    def _cut(self, text: str, spans: list[tuple[int, int]], hits: np.ndarray) -> str:
        o = self.options
        ranges: list[list[int]] = []
        for position in np.flatnonzero(hits).tolist():
            start = max(0, spans[position][0] - o.cut_margin)
            end = min(len(text), spans[position + o.ngram - 1][1] + o.cut_margin)
            if ranges and start <= ranges[-1][1]:
                ranges[-1][1] = max(ranges[-1][1], end)
            else:
                ranges.append([start, end])
        pieces, last = [], 0
        for start, end in ranges:
            pieces.append(text[last:start])
            last = end
        pieces.append(text[last:])
        return "".join(pieces).strip()

    def process(self, batch: pa.Table) -> pa.Table:
        o = self.options
        texts: list[str] = []
        reasons: list[str | None] = []
        contaminated: list[str | None] = []
        for text in batch.column(TEXT).to_pylist():
            words, spans = word_spans(text)
            grams = ngram_hashes(word_hashes(words), o.ngram)
            hits, owners = self._matches(grams)
            if not hits.any():
                texts.append(text)
                reasons.append(None)
                contaminated.append(None)
                continue
            benchmark = o.benchmarks[int(owners[np.argmax(hits)])].name
            contaminated.append(benchmark)
            if o.mode == "reject":
                texts.append(text)
                reasons.append(self.reason(benchmark))
                continue
            cut = self._cut(text, spans, hits)
            texts.append(cut)
            reasons.append(
                None
                if len(cut) >= o.min_chars_after_cut
                else self.reason(f"{benchmark}:cut_too_short")
            )
        batch = with_texts(batch, texts)
        batch = with_column(batch, "contaminated_by", pa.array(contaminated, pa.string()))
        return with_reject_reasons(batch, reasons)
