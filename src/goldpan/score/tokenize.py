"""``tokenize``: each kept document's token ids, for a trainer.

A recipe whose ``output.format`` is ``tokens`` ends with this step (added for it), so that
tokenization runs on the workers, part by part, resumable like every stage; the output writer
then only lays the ids out as shards (``data.token_shards``). It uses the Rust ``tokenizers``
library on batches of documents (``encode_batch``), without the special tokens a chat or BOS
template would add, and appends the end-of-text token when asked.

Each document's ids are kept as one binary value: the ids end to end in the dtype the shards
use (uint16 for a vocabulary below 65,500 entries, as megatron-core's ``optimal_dtype`` chooses,
else int32; named in the column's ``dtype`` metadata). Parquet writes and reads such a column as
one buffer, where a list column costs a repetition level per token: the shards are then a copy of
the column's data, and the run stays close to the speed of calling the tokenizer directly.

The tokenizer is an embedded model name (``smollm2-135m-instruct``), an HF model or tokenizer
folder, or a ``tokenizer.json`` file; the end token comes from the folder's
``tokenizer_config.json``, ``eos_token``, or a token with an end token's usual name.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from goldpan.data.chat_records import MESSAGES, conversations, record_kind
from goldpan.data.schema import LOSS_MASK, TEXT, TOKENS
from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions, with_column, with_reject_reasons
from goldpan.errors import GoldpanError
from goldpan.util.storage import is_url, local_copy, local_folder, to_path

# megatron-core's optimal_dtype: uint16 while the vocabulary has fewer entries than this.
UINT16_VOCABULARY_LIMIT = 65_500
# End tokens by the names tokenizers give them, tried when nothing names the end token.
KNOWN_END_TOKENS = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|end|>")


class TokenizeOptions(StepOptions):
    tokenizer: str = Field(
        description="An embedded model name, an HF folder, or a tokenizer.json file."
    )
    append_eos: bool = Field(True, description="End every document with the end token.")
    eos_token: str | None = Field(
        None, description="The end token's text (default: the tokenizer's own)."
    )
    batch_size: int = Field(1000, gt=0, description="Documents per encode_batch call.")
    chat_template: str | None = Field(
        None, description="chat records: a .jinja file or a shipped template (smollm2-generation) "
        "in place of the tokenizer's own.",
    )
    mask: Literal["auto", "generation", "prefix"] = Field(
        "auto", description="chat records: how the assistant-only loss mask is found "
        "(models/chat_tokens.py).",
    )
    max_tokens: int | None = Field(
        None, gt=0, description="Longer documents are rejected as too_long (packing: one "
        "document must fit one sequence).",
    )


def tokenizer_file(spec: str) -> tuple[Path, str | None]:
    """The tokenizer.json behind a spec and the end token its folder names, if any."""
    if is_url(spec):  # a tokenizer.json or a tokenizer folder in a bucket, fetched once
        remote = to_path(spec)
        spec = str(local_copy(remote) if spec.endswith(".json") else local_folder(remote))
    path = Path(spec).expanduser()
    if path.is_file():
        return path, None
    if not path.is_dir():
        from goldpan.models.load import resolve  # embedded names and the local HF cache

        path = resolve(spec)
    if not (path / "tokenizer.json").is_file():
        raise GoldpanError(f"tokenize: {spec!r} has no tokenizer.json")
    eos = None
    config = path / "tokenizer_config.json"
    if config.is_file():
        value = json.loads(config.read_text(encoding="utf-8")).get("eos_token")
        eos = value.get("content") if isinstance(value, dict) else value
    return path / "tokenizer.json", eos


def token_dtype(vocab_size: int) -> np.dtype:
    """The narrowest dtype a trainer reads for ids of this vocabulary."""
    return np.dtype(np.uint16 if vocab_size < UINT16_VOCABULARY_LIMIT else np.int32)


def token_field(dtype: np.dtype) -> pa.Field:
    """The ``tokens`` column: each document's ids as bytes, their dtype in the metadata."""
    return pa.field(TOKENS, pa.large_binary(), metadata={b"dtype": dtype.name.encode()})


@register_step
class Tokenize(MapStep[TokenizeOptions]):
    """Add each document's token ids (a ``tokens`` column) and their count (``token_count``)."""

    name = "tokenize"
    text_side = None  # text records give their text; chat records their turns, templated
    record_kinds = ("text", "chat")

    @cached_property
    def _chat(self) -> Any:
        from goldpan.models.chat_tokens import ChatTokenizer, load_chat_tokenizer

        o = self.options
        name = o.chat_template or f"of {o.tokenizer!r}"
        return ChatTokenizer(load_chat_tokenizer(o.tokenizer, o.chat_template), o.mask, name)

    @cached_property
    def _loaded(self) -> tuple[Any, int | None]:
        from tokenizers import Tokenizer

        file, eos_text = tokenizer_file(self.options.tokenizer)
        tokenizer = Tokenizer.from_file(str(file))
        eos_text = self.options.eos_token or eos_text
        if eos_text is None:  # a bare tokenizer.json: its special tokens by their usual names
            eos_text = next((t for t in KNOWN_END_TOKENS if tokenizer.token_to_id(t) is not None),
                            None)
        eos = tokenizer.token_to_id(eos_text) if eos_text else None
        if self.options.append_eos and eos is None:
            raise GoldpanError(
                f"tokenize: no end token known for {self.options.tokenizer!r}; set eos_token "
                "or append_eos: false"
            )
        return tokenizer, eos

    @property
    def vocab_size(self) -> int:
        return self._loaded[0].get_vocab_size(with_added_tokens=True)

    def process(self, batch: pa.Table) -> pa.Table:
        if record_kind(batch) == "chat":
            return self._process_chats(batch)
        tokenizer, eos = self._loaded
        dtype = token_dtype(self.vocab_size)
        texts = batch.column(TEXT).to_pylist()
        end = [eos] if self.options.append_eos else []
        pieces: list[np.ndarray] = []
        size = self.options.batch_size
        for start in range(0, len(texts), size):
            # encode_batch_fast: the ids without the character offsets nobody here reads.
            encoded = tokenizer.encode_batch_fast(texts[start : start + size],
                                                  add_special_tokens=False)
            pieces += [np.asarray(e.ids + end, dtype) for e in encoded]
        return self._with_tokens(batch, pieces, dtype)

    def _process_chats(self, batch: pa.Table) -> pa.Table:
        """The chat template's ids and the assistant-only mask; no end token is appended (the
        template ends each turn), as TRL's SFTTrainer does for conversations."""
        chat = self._chat
        dtype = token_dtype(len(chat.tokenizer))
        chats = conversations(batch.column(MESSAGES))
        pieces, masks = [], []
        size = self.options.batch_size
        for start in range(0, len(chats), size):
            for ids, mask in chat.encode_batch(chats[start : start + size]):
                pieces.append(ids.astype(dtype))
                masks.append(mask)
        batch = self._with_tokens(batch, pieces, dtype)
        return with_column(batch, pa.field(LOSS_MASK, pa.large_binary(),
                                           metadata={b"dtype": b"uint8"}),
                           bytes_column(masks, np.dtype(np.uint8)))

    def _with_tokens(self, batch: pa.Table, pieces: list[np.ndarray], dtype: np.dtype
                     ) -> pa.Table:
        lengths = np.fromiter((p.size for p in pieces), np.int64, len(pieces))
        most = self.options.max_tokens
        reasons = [None if n and (most is None or n <= most)
                   else self.reason("empty" if not n else "too_long") for n in lengths.tolist()]
        batch = with_column(batch, token_field(dtype), bytes_column(pieces, dtype))
        batch = with_column(batch, "token_count", pa.array(lengths, pa.int32()))
        return with_reject_reasons(batch, reasons)


def bytes_column(pieces: list[np.ndarray], dtype: np.dtype) -> pa.Array:
    """Arrays of one dtype as a binary column, each array one value, without a copy per value."""
    lengths = np.fromiter((p.size for p in pieces), np.int64, len(pieces))
    offsets = np.zeros(len(pieces) + 1, np.int64)
    np.cumsum(lengths * dtype.itemsize, out=offsets[1:])
    values = np.concatenate(pieces).astype(dtype, copy=False) if pieces else np.zeros(0, dtype)
    return pa.Array.from_buffers(pa.large_binary(), len(pieces),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(values)])
