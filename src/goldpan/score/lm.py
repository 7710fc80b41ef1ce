"""``lm_score``: per-document token loss under a causal LM, read forwards or backwards.

For each text: tokens (no special tokens), reversed for ``direction: reverse``, then a start
token in front (BOS, or EOS for models that separate documents with it, the direction token
``<fwd>``/``<rev>`` of a joint scorer from ``train-scorers --joint``, or none); every token
after the start is predicted from all before it, and the step records the mean negative
log-likelihood (``fwd_loss`` or ``rev_loss``), its sum (``fwd_nll``/``rev_nll``) and the number
of predicted tokens (``n_tokens``). The same placement is used by ``goldpan train-scorers``,
so a reverse scorer sees reversed text exactly as it was trained on it.

Texts longer than ``max_length`` are scored with sliding windows, each led by the start token
as every training chunk of a scorer is: each window moves by ``stride`` tokens and scores only
the tokens no earlier window scored, with the rest as context (or the text is truncated,
``long_texts: truncate``). Windows from all documents of a
batch are sorted by length and packed up to ``batch_tokens`` tokens per forward pass, padded
on the right, so a document's loss does not depend on its batch-mates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from goldpan.data.schema import TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions, with_column, with_reject_reasons
from goldpan.errors import GoldpanError
from goldpan.models.batching import attention_mask, length_batches, pad_right
from goldpan.models.precision import DtypeChoice


class LmScoreOptions(StepOptions):
    model: str = Field("smollm2-135m-instruct", description="Spec for models.load.")
    direction: Literal["forward", "reverse"] = Field("forward", description="Read order.")
    max_length: int = Field(1024, ge=2, description="Tokens per window.")
    stride: int | None = Field(
        None, ge=1, description="Window step for long texts (default: half of max_length)."
    )
    long_texts: Literal["window", "truncate"] = Field("window", description="Long-text policy.")
    batch_tokens: int | None = Field(
        None,
        ge=2,
        description="Tokens per forward pass, padding included (default: 1,024 on CPU, where "
        "one sequence fills the cores; 32,768 on a GPU, which needs many in flight).",
    )
    dtype: DtypeChoice = Field(
        "auto", description="Model dtype: auto is bfloat16 where the device computes it "
        "natively (a GPU with bf16, a CPU with AVX512-BF16 or AMX), else float32.",
    )
    suffix: str = Field(
        "", pattern=r"^(_[A-Za-z0-9]+)?$", description="Appended to the columns this step "
        "writes (fwd_loss_1, n_tokens_1): several scorers of one direction side by side, e.g. "
        "the members of train-scorers --set members=K.",
    )
    start_token: Literal["bos", "eos", "direction", "none"] = Field(
        "bos",
        description="Token put before the text (bos falls back to eos when absent; direction: "
        "<fwd> or <rev>, for a joint scorer trained on both directions).",
    )

    @model_validator(mode="after")
    def _stride_fits(self) -> LmScoreOptions:
        if self.stride is None:
            self.stride = max(1, self.max_length // 2)
        if self.stride >= self.max_length:
            raise ValueError("stride must be smaller than max_length")
        return self


# The tokens that lead each chunk of a joint (both-directions) scorer, in training and scoring.
DIRECTION_TOKENS = {"forward": "<fwd>", "reverse": "<rev>"}


@dataclass
class Window:
    document: int
    tokens: list[int]
    score_from: int  # first position (>= 1) of ``tokens`` whose prediction counts


def start_id(tokenizer, choice: str, direction: str = "forward") -> int | None:
    if choice == "none":
        return None
    if choice == "direction":
        token = DIRECTION_TOKENS[direction]
        found = tokenizer.convert_tokens_to_ids(token)
        if found is None or found == tokenizer.unk_token_id or token not in tokenizer.get_vocab():
            raise GoldpanError(
                f"lm_score: start_token 'direction' needs a model trained with direction tokens "
                f"(train-scorers --joint); this tokenizer has no {token}"
            )
        return int(found)
    if choice == "bos" and tokenizer.bos_token_id is not None:
        return int(tokenizer.bos_token_id)
    return int(tokenizer.eos_token_id) if tokenizer.eos_token_id is not None else None


def sequence(token_ids: list[int], direction: str, start: int | None) -> list[int]:
    """The sequence a scorer reads: tokens, reversed for the reverse direction, start first."""
    ordered = token_ids[::-1] if direction == "reverse" else list(token_ids)
    return ([start] if start is not None else []) + ordered


def windows(
    document: int,
    tokens: list[int],
    max_length: int,
    stride: int,
    long_texts: str,
    start: int | None = None,
) -> list[Window]:
    """Cut a text's tokens (already in reading order, without the start token) so that every
    token is scored exactly once, the first from the start token alone (or, with none, every
    token after the first). Each window begins with the start token, as every training chunk of
    ``train-scorers`` does: a joint scorer learns its direction from that token, so a window
    without it would be read in no known direction. Later windows repeat the tokens before
    those they score as context (they move by ``stride``)."""
    lead = [start] if start is not None else []
    body = max_length - len(lead)  # tokens of the text per window
    if len(lead) + len(tokens) < 2:
        return []
    if len(tokens) <= body or long_texts == "truncate":
        return [Window(document, lead + tokens[:body], 1)]
    step = min(stride, body)
    result, scored_until, begin = [], 0 if lead else 1, 0
    while scored_until < len(tokens):
        end = min(begin + body, len(tokens))
        result.append(Window(document, lead + tokens[begin:end],
                             len(lead) + scored_until - begin))
        scored_until = end
        begin += step  # step < body, so the next window overlaps: context carries on
    return result


def batches(items: list[Window], batch_tokens: int) -> list[list[Window]]:
    """Windows sorted by length and packed so that padded size stays under the budget."""
    groups = length_batches([len(w.tokens) for w in items], batch_tokens)
    return [[items[i] for i in group] for group in groups]


def default_batch_tokens(device: str) -> int:
    return 1024 if device == "cpu" else 32768


def score_windows(
    model, groups: list[list[Window]], pad_id: int, device: str, documents: int
) -> tuple[np.ndarray, np.ndarray]:
    """Summed NLL and token counts per document.

    Each batch's per-window sums stay on the device until every batch is queued, so a GPU
    computes one batch while the CPU builds the next (one transfer back at the end)."""
    import torch

    nll = np.zeros(documents, dtype=np.float64)
    counts = np.zeros(documents, dtype=np.int64)
    pending = []
    with torch.inference_mode():
        for group in groups:
            rows = [w.tokens for w in group]
            ids, mask = pad_right(rows, pad_id), attention_mask(rows)
            scored = np.zeros((len(group), ids.shape[1] - 1), dtype=bool)  # predictions that count
            for row, window in enumerate(group):
                length = len(window.tokens)
                scored[row, window.score_from - 1 : length - 1] = True
                counts[window.document] += length - window.score_from
            ids_t = torch.from_numpy(ids).to(device, non_blocking=True)
            mask_t = torch.from_numpy(mask).to(device, non_blocking=True)
            logits = model(input_ids=ids_t, attention_mask=mask_t).logits
            # -log p(target) = logsumexp(logits) - logit(target): no full log-softmax tensor.
            shifted = logits[:, :-1].float()
            targets = ids_t[:, 1:].unsqueeze(-1)
            token_nll = torch.logsumexp(shifted, dim=-1) - shifted.gather(-1, targets).squeeze(-1)
            scored_t = torch.from_numpy(scored).to(device, non_blocking=True)
            pending.append((token_nll.double().mul_(scored_t).sum(dim=1), group))
        for sums, group in pending:
            for value, window in zip(sums.cpu().numpy(), group, strict=True):
                nll[window.document] += float(value)
    return nll, counts


@register_step
class LmScore(MapStep[LmScoreOptions]):
    """Mean token loss of each text under a causal LM, forwards or token-reversed."""

    name = "lm_score"
    text_side = "answer"

    def score_columns(self) -> tuple[str, ...]:
        prefix = "fwd" if self.options.direction == "forward" else "rev"
        return (f"{prefix}_loss{self.options.suffix}",)

    def score(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        from goldpan.models.load import load_cached

        o = self.options
        loaded = load_cached(o.model, o.dtype)
        tokenizer = loaded.tokenizer
        start = start_id(tokenizer, o.start_token, o.direction)
        assert o.stride is not None, "the options' validator sets it"
        encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
        items = [
            w
            for doc, ids in enumerate(encoded)
            for w in windows(doc, sequence(ids, o.direction, None), o.max_length, o.stride,
                             o.long_texts, start)
        ]
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (start or 0)
        budget = o.batch_tokens or default_batch_tokens(loaded.device)
        return score_windows(loaded.model, batches(items, budget), pad, loaded.device, len(texts))

    def process(self, batch: pa.Table) -> pa.Table:
        o = self.options
        nll, counts = self.score(batch.column(TEXT).to_pylist())
        prefix = "fwd" if o.direction == "forward" else "rev"
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(counts > 0, nll / np.maximum(counts, 1), np.nan)
        columns = {
            f"{prefix}_loss{o.suffix}": pa.array(mean, pa.float64(), mask=counts == 0),
            f"{prefix}_nll{o.suffix}": pa.array(nll, pa.float64()),
            f"n_tokens{o.suffix}": pa.array(counts, pa.int64()),
        }
        for name, values in columns.items():
            batch = with_column(batch, name, values)
        reasons = [None if c > 0 else self.reason("no_tokens") for c in counts]
        return with_reject_reasons(batch, reasons)
