"""``magpie``: instructions drawn from an aligned chat model given nothing but its template's
opening of a user turn, then answered (Xu et al. 2024, "Magpie: Alignment Data Synthesis from
Scratch by Prompting Aligned LLMs with Nothing", arXiv 2406.08464, section 2).

Each record is a slot (``input.format: slots`` makes them): the model continues the pre-query
template (the chat template rendered up to where the user's words begin) and what it writes is
a user's instruction; the model then answers it through the full chat template. Every slot
draws its own sample of the same prefix (seeded by the slot's id), so slots give different
instructions and a rerun the same ones. Magpie's filters follow (section 3): ``length`` (words
of the instruction), ``repetition`` (share of its word 3-grams that repeat), ``language``
(fastText lid.176, as the langid step); a quality cut is an ``llm_judge`` step after this one
(``on: user``). The record becomes a chat record: the instruction and its answer.

This needs raw continuation: a local model, or a server with the completions endpoint
(``openai:MODEL@URL`` with ``pre_query`` set to that model's template prefix). A chat-only
endpoint cannot take a template prefix, and stops the run with one line saying so.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import pyarrow as pa
import xxhash
from pydantic import Field

from goldpan.curate.langid import LangId
from goldpan.data.chat_records import MESSAGES, transcripts, turns_array
from goldpan.data.schema import ID, TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import StepOptions, with_column, with_reject_reasons
from goldpan.errors import GoldpanError
from goldpan.llm import GenerationParams
from goldpan.llm.step_llms import LlmCallOptions, LlmStep

SENTINEL = "\u2063goldpan-magpie\u2063"


class MagpieOptions(StepOptions, LlmCallOptions):
    llm: str = Field("smollm2-135m-instruct", description="An aligned chat model: local, or "
                     "openai:MODEL@URL serving /completions.")
    pre_query: str | None = Field(None, description="The template up to the user's words "
                                  "(default: from the local model's chat template).")
    temperature: float = Field(1.0, ge=0, description="Instruction sampling (the paper: 1.0).")
    top_p: float = Field(1.0, gt=0, le=1)
    max_query_tokens: int = Field(256, ge=1, description="Longest instruction drawn.")
    response_temperature: float = Field(0.0, ge=0, description="Answers (0: greedy).")
    max_new_tokens: int = Field(512, ge=1, description="Longest answer.")
    stop: list[str] = Field(default_factory=list, description="Where an instruction ends "
                            "besides the model's end token (e.g. the template's end of turn).")
    min_words: int = Field(3, ge=0, description="Shorter instructions: magpie:length.")
    max_words: int = Field(500, ge=1, description="Longer instructions: magpie:length.")
    max_repetition: float = Field(0.3, ge=0, le=1, description="Share of repeated word 3-grams "
                                  "above which an instruction is magpie:repetition.")
    languages: list[str] | None = Field(["en"], description="Languages kept (lid.176); null: "
                                        "any.")
    language_threshold: float = Field(0.5, ge=0, le=1)


def repeated_share(text: str, n: int = 3) -> float:
    """The share of the text's word n-grams that occur more than once."""
    words = text.lower().split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    counts: dict[tuple[str, ...], int] = {}
    for gram in grams:
        counts[gram] = counts.get(gram, 0) + 1
    return sum(c for c in counts.values() if c > 1) / len(grams)


def slot_sample(record_id: str) -> int:
    """The sample of the shared prefix a slot draws: stable for its id on every executor."""
    return xxhash.xxh32_intdigest(record_id.encode("utf-8")) & 0x7FFFFFFF


@register_step
class Magpie(LlmStep[MagpieOptions]):
    """Draw instructions from an aligned model's empty user turn, answer them (Magpie)."""

    name = "magpie"
    text_side = None
    record_kinds = ("text",)

    @cached_property
    def query_params(self) -> GenerationParams:
        o = self.options
        return GenerationParams(temperature=o.temperature, top_p=o.top_p,
                                max_new_tokens=o.max_query_tokens, seed=self.seed,
                                stop=tuple(o.stop), chat=False)

    @cached_property
    def answer_params(self) -> GenerationParams:
        o = self.options
        return GenerationParams(temperature=o.response_temperature,
                                max_new_tokens=o.max_new_tokens, seed=self.seed)

    def pre_query(self) -> str:
        o = self.options
        if o.pre_query is not None:
            return o.pre_query
        if o.llm.startswith("openai:"):
            raise GoldpanError(
                f"magpie: {o.llm} is a server: set pre_query to its model's chat template up to "
                "where the user's words begin, and serve raw completions (/v1/completions); a "
                "chat-only endpoint cannot continue a template prefix")
        from goldpan.models.chat_tokens import load_chat_tokenizer

        tokenizer = load_chat_tokenizer(o.llm)
        rendered = tokenizer.apply_chat_template([{"role": "user", "content": SENTINEL}],
                                                 tokenize=False)
        return rendered.split(SENTINEL)[0]

    def apply(self, batch: pa.Table, state: dict[str, str]) -> pa.Table:
        llm = self.llms.get(self.options.llm, state["cache"])
        ids = batch.column(ID).to_pylist()
        drawn = llm.samples(self.pre_query(), [slot_sample(i) for i in ids], self.query_params)
        self._refuse_chat_only(drawn)
        reasons: list[str | None] = []
        queries: list[str] = []
        for completion in drawn:
            query = completion.text.strip()
            queries.append(query)
            reasons.append(self.reason("error") if completion.error is not None
                           else self._filtered(query))
        self._language(queries, reasons)
        asked = {row: [{"role": "user", "content": queries[row]}]
                 for row, reason in enumerate(reasons) if reason is None}
        answers = self.answers(llm, asked, self.answer_params, reasons)
        chats: list[list[dict[str, Any]]] = [
            [{"role": "user", "content": queries[row]},
             {"role": "assistant", "content": answers[row]}] if row in answers else []
            for row in range(batch.num_rows)]
        batch = with_column(batch, MESSAGES, turns_array(chats))
        batch = with_column(batch, TEXT, transcripts(batch, "chat"))
        return with_reject_reasons(batch, reasons)

    def _refuse_chat_only(self, drawn: list[Any]) -> None:
        errors = [c.error for c in drawn if c.error is not None]
        if errors and len(errors) == len(drawn) and any(
                code in errors[0] for code in ("HTTP 404", "HTTP 405", "HTTP 400")):
            raise GoldpanError(
                f"magpie: {self.options.llm} refused raw completions ({errors[0]}): Magpie "
                "continues the template's text as it is, which a chat-only endpoint cannot do; "
                "serve the model with /v1/completions (vLLM, llama.cpp) or run it locally")

    def _filtered(self, query: str) -> str | None:
        o = self.options
        words = len(query.split())
        if not o.min_words <= words <= o.max_words:
            return self.reason("length")
        if repeated_share(query) > o.max_repetition:
            return self.reason("repetition")
        return None

    def _language(self, queries: list[str], reasons: list[str | None]) -> None:
        o = self.options
        if o.languages is None:
            return
        rows = [row for row, reason in enumerate(reasons) if reason is None]
        if not rows:
            return
        languages, scores = LangId().predict([queries[row] for row in rows])
        for row, language, score in zip(rows, languages, scores.tolist(), strict=True):
            if language not in o.languages or score < o.language_threshold:
                reasons[row] = self.reason("language")
