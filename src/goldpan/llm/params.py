"""Generation parameters and results, shared by every backend and by the cache key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Union

from typing_extensions import TypeIs

# What a model is asked: a text (one user message under ``chat``, else continued as it is) or
# a conversation so far, OpenAI's ``{role, content}`` messages, answered as the next turn.
Prompt = Union[str, Sequence[Mapping[str, str]]]  # noqa: UP007  (a runtime alias)
Conversation = Sequence[Mapping[str, str]]


def is_conversation(prompt: Prompt) -> TypeIs[Conversation]:
    return not isinstance(prompt, str)


@dataclass(frozen=True)
class GenerationParams:
    """What to sample. ``n`` samples per prompt; sample ``i`` uses seed ``seed + i``, so each
    sample is reproducible on its own and cached under its own key.

    ``chat``: wrap the prompt as one user message and apply the model's chat template (local)
    or call the chat endpoint (HTTP); off, the prompt is continued as raw text."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    n: int = 1
    seed: int = 0
    stop: tuple[str, ...] = ()
    repetition_penalty: float = 1.0  # transformers' multiplicative penalty (1.0: off)
    presence_penalty: float = 0.0  # OpenAI's additive penalty on tokens already generated
    frequency_penalty: float = 0.0
    logprobs: bool = False
    # The k most likely tokens at each generated position with their log-probabilities (0: none):
    # a judge reads P("yes") from the first position (Ask-LLM), whatever token was chosen.
    top_logprobs: int = 0
    # A JSON schema the answer must follow, as JSON text (hashable): sent as the OpenAI
    # ``response_format`` where the server supports structured output; ignored locally.
    response_schema: str | None = None
    chat: bool = True

    def key_fields(self) -> dict:
        """The fields that change a sample (everything but ``n``: sample i is the same
        whether 2 or 8 are asked for)."""
        fields = asdict(self)
        fields.pop("n")
        fields["stop"] = list(self.stop)
        # Fields added later count only when set, so caches written before them still hit.
        for name in ("top_logprobs", "response_schema"):
            if not fields[name]:
                fields.pop(name)
        return fields


@dataclass
class Completion:
    """One sample: its text, per-token log-probabilities when asked for and given (and the
    top alternatives at each position), token counts and why it stopped (``stop``,
    ``length``)."""

    text: str
    logprobs: list[float] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    cached: bool = field(default=False, compare=False)
    # Per generated position, {token text: log-probability} of the most likely tokens.
    top_logprobs: list[dict[str, float]] | None = None
    # Why this request got no answer (a backend that records failures instead of raising):
    # never cached, so a rerun asks again.
    error: str | None = None
