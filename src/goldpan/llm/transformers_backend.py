"""Local generation with transformers: batched, left-padded, on CPU or GPU.

Prompts are sorted by length and generated ``batch_size`` at a time. Sample ``i`` of every
prompt is drawn with the seed ``seed + i`` (mixed with the batch number), so a rerun of the same
requests gives the same texts. Stop strings end generation and are cut from the text, as the
OpenAI API does; the presence and frequency penalties follow OpenAI's definition (subtracted
from the logits of tokens already generated), the repetition penalty transformers' own."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from goldpan.llm.params import Completion, GenerationParams, Prompt, is_conversation
from goldpan.models.memory import evaluating
from goldpan.models.precision import DtypeChoice, resolve_dtype
from goldpan.models.prompts import adds_special_tokens, has_chat_template, user_turn


def _penalty_processor(presence: float, frequency: float, prompt_length: int):
    import torch
    from transformers import LogitsProcessor

    class PresenceFrequencyPenalty(LogitsProcessor):
        """logit -= presence * [token generated] + frequency * count (OpenAI's penalties)."""

        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor):
            generated = input_ids[:, prompt_length:]
            if generated.shape[1] == 0:
                return scores
            counts = torch.zeros_like(scores)
            counts.scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
            return scores - presence * (counts > 0).to(scores.dtype) - frequency * counts

    return PresenceFrequencyPenalty()


def _top_alternatives(
    scores: Sequence[Any], k: int, tokenizer: Any
) -> list[list[dict[str, float]]]:
    """Per row, per generated position: the k most likely tokens (decoded) and their
    log-probabilities under the model's distribution at that step (the scores after the
    logits processors, renormalised: with greedy decoding, the model's own). Tokens that
    decode to the same text share one entry, their probabilities added."""
    import torch

    rows: list[list[dict[str, float]]] = [[] for _ in range(scores[0].shape[0])] if scores else []
    for step in scores:
        values, ids = torch.log_softmax(step.float(), dim=-1).topk(k, dim=-1)
        for row, (row_values, row_ids) in enumerate(zip(values.tolist(), ids.tolist(),
                                                        strict=True)):
            top: dict[str, float] = {}
            for value, token in zip(row_values, row_ids, strict=True):
                text = tokenizer.decode([token])
                top[text] = float(np.logaddexp(top.get(text, -math.inf), value))
            rows[row].append(top)
    return rows


def _as_list(value: int | list[int] | None) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """The text up to the earliest stop string, and whether one was found."""
    positions = [text.find(s) for s in stop if s and s in text]
    if not positions:
        return text, False
    return text[: min(positions)], True


class TransformersBackend:
    name = "transformers"

    def __init__(
        self,
        model: str,
        dtype: DtypeChoice = "auto",
        device: str | None = None,
        batch_size: int = 8,
    ) -> None:
        self.model = model
        self.dtype = dtype
        self.device = device
        self.batch_size = max(1, batch_size)
        self._objects: Any = None

    @classmethod
    def from_objects(
        cls, name: str, model: Any, tokenizer: Any, batch_size: int = 8
    ) -> TransformersBackend:
        """A backend over a model already in memory (a student being trained, a NAT model
        with its custom layers); ``name`` stands for it in cache keys."""
        from goldpan.models.load import LoadedModel

        backend = cls(name, batch_size=batch_size)
        device = str(next(model.parameters()).device)
        backend._objects = LoadedModel(model, tokenizer, Path(name), device)
        return backend

    @property
    def cache_identity(self) -> str:
        if self._objects is not None:
            return self.model
        """The model name plus the weights' size and modification time (a folder retrained in
        place, a teacher updated by DPO, must not be served its old generations) and the dtype
        it runs in (``auto`` differs between machines, and so do bf16 samples)."""
        from goldpan.models.load import default_device, resolve, weights_stamp

        dtype = resolve_dtype(self.dtype, self.device or default_device())
        return f"{self.model}|{weights_stamp(resolve(self.model))}|{dtype}"

    def _loaded(self):
        from goldpan.models.load import load_cached

        if self._objects is not None:
            return self._objects
        return load_cached(self.model, self.dtype, self.device)

    def render(self, prompt: Prompt, params: GenerationParams) -> str:
        """The text the model continues: for a chat request, the user turn exactly as a student
        is trained on it (``models.prompts.user_turn``); for a conversation, its messages under
        the chat template with the assistant's turn opened; else the prompt itself."""
        tokenizer = self._loaded().tokenizer
        if is_conversation(prompt):
            if not has_chat_template(tokenizer):
                # A base model (no template): the conversation as a dialogue to continue.
                lines = [f"{m['role'].capitalize()}: {m['content']}" for m in prompt]
                return "\n\n".join([*lines, "Assistant:"])
            messages = [dict(m) for m in prompt]
            if messages[-1]["role"] == "assistant":  # a prefilled answer, continued as it is
                return tokenizer.apply_chat_template(messages, tokenize=False,
                                                     continue_final_message=True)
            return tokenizer.apply_chat_template(messages, tokenize=False,
                                                 add_generation_prompt=True)
        return user_turn(tokenizer, prompt) if params.chat else prompt

    def complete(
        self, requests: Sequence[tuple[Prompt, int]], params: GenerationParams
    ) -> Iterator[tuple[int, Completion]]:
        import torch

        if not requests:
            return
        loaded = self._loaded()
        tokenizer, model = loaded.tokenizer, loaded.model
        tokenizer.padding_side = "left"
        pad_id = tokenizer.pad_token_id
        if pad_id is None:
            pad_id = tokenizer.eos_token_id
        stop_ids = set(_as_list(model.generation_config.eos_token_id))
        stop_ids |= set(_as_list(tokenizer.eos_token_id))
        rendered = [self.render(prompt, params) for prompt, _ in requests]
        lengths = [len(t) for t in rendered]
        order = sorted(range(len(requests)), key=lambda i: (requests[i][1], lengths[i]))
        for number, start in enumerate(range(0, len(order), self.batch_size)):
            members = order[start : start + self.batch_size]
            # One sample index per batch where possible; the seed mixes it with the batch.
            torch.manual_seed(params.seed * 1_000_003 + requests[members[0]][1] * 10_007 + number)
            encoded = tokenizer(
                [rendered[i] for i in members],
                return_tensors="pt",
                padding=True,
                add_special_tokens=not (params.chat or any(
                    is_conversation(requests[i][0]) for i in members))
                or adds_special_tokens(tokenizer),
            ).to(loaded.device)
            prompt_length = encoded["input_ids"].shape[1]
            kwargs: dict[str, Any] = {
                "max_new_tokens": params.max_new_tokens,
                "pad_token_id": pad_id,
                "repetition_penalty": params.repetition_penalty,
                "return_dict_in_generate": True,
                "output_scores": params.logprobs or params.top_logprobs > 0,
            }
            if params.temperature > 0:
                kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            if params.stop:
                kwargs.update(stop_strings=list(params.stop), tokenizer=tokenizer)
            if params.presence_penalty or params.frequency_penalty:
                kwargs["logits_processor"] = [
                    _penalty_processor(
                        params.presence_penalty, params.frequency_penalty, prompt_length
                    )
                ]
            # Eval mode whatever the caller left the model in (a student fresh from training):
            # generation must not sample dropout masks.
            with evaluating(model), torch.inference_mode():
                output = model.generate(**encoded, **kwargs)
            new_tokens = output.sequences[:, prompt_length:]
            token_logprobs = None
            if params.logprobs:
                token_logprobs = model.compute_transition_scores(
                    output.sequences, output.scores, normalize_logits=True
                ).cpu()
            alternatives = (
                _top_alternatives(output.scores, params.top_logprobs, tokenizer)
                if params.top_logprobs else None
            )
            for row, index in enumerate(members):
                tokens = new_tokens[row].tolist()
                count, ended = len(tokens), False
                for position, token in enumerate(tokens):
                    if token in stop_ids:  # finished rows are padded after their end token
                        count, ended = position, True
                        break
                text = tokenizer.decode(tokens[:count], skip_special_tokens=True)
                stops = params.stop
                if is_conversation(requests[index][0]) and not has_chat_template(tokenizer):
                    stops = (*stops, "\n\nUser:")  # a base model goes on with the next turn
                text, stopped = cut_at_stop(text, stops)
                finish = "stop" if stopped or ended else "length"
                logprobs = (
                    [float(v) for v in token_logprobs[row, : count + ended]]
                    if token_logprobs is not None
                    else None
                )
                prompt_tokens = int(encoded["attention_mask"][row].sum())
                top = alternatives[row][: count + ended] if alternatives is not None else None
                yield index, Completion(text, logprobs, prompt_tokens, count + ended, finish,
                                        top_logprobs=top)
