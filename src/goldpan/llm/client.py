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
        asked = [(position, sample) for position in range(len(prompts))
                 for sample in range(params.n)]
        done = self._complete(prompts, asked, params, on_done)
        rows: list[list[Completion]] = [[] for _ in prompts]
        for (position, _), completion in zip(asked, done, strict=True):
            rows[position].append(completion)
        return rows

    def samples(self, prompt: Prompt, indices: Sequence[int], params: GenerationParams
                ) -> list[Completion]:
        """Chosen samples of one prompt (sample i seeded ``params.seed + i``, cached as sample
        i): many different answers to the same prompt, each reproducible on its own (Magpie
        draws every instruction from the same template prefix)."""
        return self._complete([prompt], [(0, i) for i in indices], params, None)

    def _complete(self, prompts: Sequence[Prompt], asked: list[tuple[int, int]],
                  params: GenerationParams, on_done: Callable[[int], None] | None
                  ) -> list[Completion]:
        """The (prompt position, sample index) requests, from the cache or the backend."""
        prompts = [p if isinstance(p, str) else [dict(m) for m in p] for p in prompts]
        identity = getattr(self.backend, "cache_identity", self.backend.model)
        results: list[Completion | None] = [None] * len(asked)
        missing: list[tuple[int, str]] = []
        for number, (position, sample) in enumerate(asked):
            key = cache_key(self.backend.name, identity, prompts[position], params, sample)
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is None:
                missing.append((number, key))
            else:
                results[number] = hit
                self.usage.cache_hits += 1
        if on_done is not None and len(missing) < len(asked):
            on_done(len(asked) - len(missing))
        requests = [(prompts[asked[number][0]], asked[number][1]) for number, _ in missing]
        for index, completion in self.backend.complete(requests, params):
            number, key = missing[index]
            if self.cache is not None and completion.error is None:
                self.cache.put(key, completion)
            results[number] = completion
            if completion.error is None:
                self.usage.add(completion)
            else:
                self.usage.failures += 1
            if on_done is not None:
                on_done(1)
        return [c for c in results if c is not None]

    def texts(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[list[str]]:
        return [[c.text for c in row] for row in self.generate(prompts, params)]
