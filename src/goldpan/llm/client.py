"""``LLM``: one interface over every backend, with the cache and token accounting in front.

``generate(prompts, params)`` returns ``params.n`` completions per prompt. Samples already in
the cache are served from it; only the rest reach the backend, and each is cached the moment it
arrives, so an interrupted run loses nothing and a rerun sends no request at all."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from goldpan.llm.cache import GenerationCache, cache_key
from goldpan.llm.params import Completion, GenerationParams, Prompt


class Backend(Protocol):
    name: str
    model: str

    def complete(
        self, requests: Sequence[tuple[Prompt, int]], params: GenerationParams
    ) -> Iterator[tuple[int, Completion]]:
        """Completions of (prompt, sample index) requests, yielded with the request's position
        as each finishes (in any order). A prompt is a text or a conversation's messages."""
        ...


@dataclass
class Usage:
    """Token accounting of one ``LLM``: what the backend was asked for and what the cache saved."""

    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: int = 0  # requests that got no answer (recorded, not cached)

    def add(self, completion: Completion) -> None:
        self.requests += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens

    def to_json(self) -> dict:
        return asdict(self)


class LLM:
    def __init__(self, backend: Backend, cache: GenerationCache | None = None) -> None:
        self.backend = backend
        self.cache = cache
        self.usage = Usage()

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams,
        on_done: Callable[[int], None] | None = None,
    ) -> list[list[Completion]]:
        """``params.n`` completions for each prompt, in prompt order; ``on_done(k)`` reports
        progress as k more samples are ready."""
        results: list[list[Completion | None]] = [[None] * params.n for _ in prompts]
        missing: list[tuple[int, int, str]] = []
        prompts = [p if isinstance(p, str) else [dict(m) for m in p] for p in prompts]
        identity = getattr(self.backend, "cache_identity", self.backend.model)
        for position, prompt in enumerate(prompts):
            for sample in range(params.n):
                key = cache_key(self.backend.name, identity, prompt, params, sample)
                hit = self.cache.get(key) if self.cache is not None else None
                if hit is None:
                    missing.append((position, sample, key))
                else:
                    results[position][sample] = hit
                    self.usage.cache_hits += 1
        if on_done is not None and len(missing) < len(prompts) * params.n:
            on_done(len(prompts) * params.n - len(missing))
        requests = [(prompts[position], sample) for position, sample, _ in missing]
        for index, completion in self.backend.complete(requests, params):
            position, sample, key = missing[index]
            if self.cache is not None and completion.error is None:
                self.cache.put(key, completion)
            results[position][sample] = completion
            if completion.error is None:
                self.usage.add(completion)
            else:
                self.usage.failures += 1
            if on_done is not None:
                on_done(1)
        return [[c for c in row if c is not None] for row in results]

    def texts(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[list[str]]:
        return [[c.text for c in row] for row in self.generate(prompts, params)]
