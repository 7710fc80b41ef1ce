"""Input and output configuration: which files to read and how, where the kept records go.

These are the ``input:`` and ``output:`` sections of a recipe; the readers and writers take them
as they are, so the data layer needs nothing from the layers above it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

InputFormat = Literal["auto", "jsonl", "parquet", "hf", "text", "warc", "slots"]
OutputFormat = Literal["parquet", "jsonl", "jsonl.gz", "hf", "tokens"]
RecordKindName = Literal["text", "chat", "preference"]
ChatFormat = Literal["openai", "sharegpt", "alpaca", "prompt_completion"]
PreferenceFormat = Literal["auto", "standard", "conversational"]


class InputConfig(BaseModel):
    """Where the documents come from and which fields hold what."""

    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(description="Files, folders or globs (** allowed); for format "
                             "slots, how many empty records to make (e.g. [\"400\"]).")
    format: InputFormat = Field("auto", description="auto picks by extension.")
    kind: RecordKindName = Field(
        "text",
        description="text: one document per record; chat: a conversation (messages); "
        "preference: prompt, chosen and rejected (TRL's preference formats).",
    )
    chat_format: Literal["auto", "openai", "sharegpt", "alpaca", "prompt_completion"] = Field(
        "auto",
        description="chat: the layout of the conversations; auto decides per record by its "
        "fields (messages, conversations, instruction/output, prompt/completion).",
    )
    text_field: str = Field("text", description="Field holding the document text.")
    id_field: str | None = Field(
        None, description="Field holding a unique id; without it ids are FILE:LINE."
    )
    source_field: str = Field("source", description="Field holding the origin label.")
    source: str | None = Field(
        None, description="Origin label for records without source_field (default: file name)."
    )
    score_fields: list[str] = Field(
        default_factory=list,
        description="Input fields that already hold quality scores: summarised per source in "
        "stats.json and the report, like the scores steps add.",
    )
    part_records: int | None = Field(
        None,
        gt=0,
        description="Records per part, the unit of work and resume (default: 10,000 with many "
        "input files, 2,000 with fewer files than workers, so that parts spread the work).",
    )
    split_bytes: int | None = Field(
        8 << 20,
        gt=0,
        description="Plain JSONL and WARC files larger than this are read in ranges by several "
        "workers.",
    )
    max_text_chars: int | None = Field(
        10_000_000, gt=0, description="Longer documents are rejected as text_too_long."
    )
    on_invalid_utf8: Literal["reject", "replace"] = Field(
        "reject", description="reject the line, or decode it with U+FFFD replacements."
    )

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class PackConfig(BaseModel):
    """Best-fit-decreasing packing of tokenised documents into training sequences."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(gt=0, description="The length of one packed sequence.")


class OutputConfig(BaseModel):
    """Where the kept records go."""

    model_config = ConfigDict(extra="forbid")

    dir: str = Field(description="Run directory: stages, rejects, output, stats, report.")
    format: OutputFormat = "parquet"
    shard_records: int | None = Field(
        None,
        gt=0,
        description="Records per output shard; none: one shard per part, linked without a copy.",
    )
    report: bool = Field(True, description="Write report.html into the run directory at the end.")
    chat_format: ChatFormat = Field(
        "openai",
        description="chat records: the layout written (openai: {id, messages, ...}; sharegpt; "
        "alpaca; prompt_completion).",
    )
    preference_format: PreferenceFormat = Field(
        "auto",
        description="preference records: TRL's prompt/chosen/rejected as strings (standard) or "
        "message lists (conversational); auto gives each shard the style its records came in, "
        "message lists when they mixed.",
    )
    tokenizer: str | None = Field(
        None, description="tokens: an embedded model name, an HF folder or a tokenizer.json."
    )
    append_eos: bool = Field(True, description="tokens: end every document with the end token.")
    shuffle: bool = Field(
        True, description="tokens: write shuffle.npy, a seeded permutation of the documents."
    )
    chat_template: str | None = Field(
        None,
        description="tokens, chat records: a .jinja file or a template goldpan ships "
        "(smollm2-generation) in place of the tokenizer's own.",
    )
    mask: Literal["auto", "generation", "prefix"] = Field(
        "auto",
        description="tokens, chat records: how the assistant-only loss mask is found: the "
        "template's {% generation %} marks, the rendering of each conversation prefix, or "
        "auto (the marks when the template has them).",
    )
    pack: PackConfig | None = Field(
        None, description="tokens: pack documents into sequences of at most max_tokens."
    )
    push_to_hub: str | None = Field(
        None,
        description="A Hugging Face dataset repository (ORG/NAME) the output is uploaded to at "
        "the end; the token comes from HF_TOKEN or `hf auth login`, never from the recipe.",
    )
    hub_private: bool = Field(True, description="push_to_hub: create the repository private.")

    @model_validator(mode="after")
    def _tokens_need_a_tokenizer(self) -> OutputConfig:
        if self.format == "tokens" and not self.tokenizer:
            raise ValueError("format tokens needs output.tokenizer")
        return self
