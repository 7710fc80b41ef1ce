"""Text generation: one interface over local transformers models and OpenAI-compatible
servers, with a SQLite cache in front (see ``client.LLM``).

A backend is named by a spec string:
- ``openai:MODEL@BASE_URL`` (or ``openai:MODEL`` with ``OPENAI_BASE_URL`` set): any
  OpenAI-compatible server; the API key comes from ``OPENAI_API_KEY`` (or ``api_key_env``).
- anything else: a ``goldpan.models.load`` spec run locally with transformers (an embedded
  name such as ``smollm2-135m-instruct``, a model folder, a ``.gguf`` file).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from goldpan.errors import GoldpanError
from goldpan.llm.cache import GenerationCache
from goldpan.llm.client import LLM, Backend, Usage
from goldpan.llm.params import Completion, GenerationParams

__all__ = [
    "LLM",
    "Backend",
    "Completion",
    "GenerationCache",
    "GenerationParams",
    "Usage",
    "make_backend",
    "make_llm",
]

OPENAI_OPTIONS = {"api_key_env", "concurrency", "timeout", "max_retries", "backoff", "max_backoff",
                  "on_error", "weights"}
LOCAL_OPTIONS = {"dtype", "device", "batch_size"}


def make_backend(spec: str, **options: Any) -> Backend:
    if spec.startswith("openai:"):
        from goldpan.llm.openai_backend import OpenAIBackend

        model, _, base_url = spec[len("openai:") :].partition("@")
        base_url = base_url or os.environ.get("OPENAI_BASE_URL", "")
        if not model or not base_url:
            raise GoldpanError(
                f"llm {spec!r}: write openai:MODEL@BASE_URL (or set OPENAI_BASE_URL), "
                "e.g. openai:my-model@http://127.0.0.1:8000/v1"
            )
        return OpenAIBackend(model, base_url, **_pick(options, OPENAI_OPTIONS))
    from goldpan.llm.transformers_backend import TransformersBackend

    return TransformersBackend(spec, **_pick(options, LOCAL_OPTIONS))


def make_llm(spec: str, cache: str | Path | None = None, **options: Any) -> LLM:
    """An ``LLM`` for a backend spec, cached in the SQLite file ``cache`` when given."""
    return LLM(make_backend(spec, **options), GenerationCache(cache) if cache else None)


def _pick(options: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k in allowed and v is not None}
