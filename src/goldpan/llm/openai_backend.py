"""Any OpenAI-compatible server (OpenAI, vLLM, llama.cpp's server, ...) over HTTP.

Requests run on a thread pool of ``concurrency`` connections. 429, 5xx, timeouts and dropped
connections are retried with exponential backoff and jitter (a server's Retry-After is
honoured); other 4xx answers and malformed bodies stop the run with one line naming the server,
the status and the server's own message, since retrying cannot fix them."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from goldpan.errors import GoldpanError
from goldpan.llm.params import Completion, GenerationParams, Prompt, is_conversation
from goldpan.util.bounded import bounded_map

RETRIED_STATUS = {408, 409, 429}


class ServerUnreachable(GoldpanError):
    """No connection could be made: the server is down, for every request alike."""


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        on_error: str = "raise",
        weights: str | None = None,
    ) -> None:
        self.model = model
        # The cache key's model part: the name the server answers to, and, when the caller
        # knows them, the weights behind it (a teacher retrained and served again under the
        # same name must not be served its old answers from the cache).
        self.cache_identity = model if weights is None else f"{model}|{weights}"
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        # "record": a request the server fails (an error status, a timeout, a malformed
        # answer) becomes a Completion with ``error`` set, for the step to reject or null one
        # record; an unreachable server still stops the run.
        self.on_error = on_error

    # ------------------------------------------------------------------ requests
    def _body(self, prompt: Prompt, sample: int, params: GenerationParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_new_tokens,
            "n": 1,
            "seed": params.seed + sample,
        }
        if is_conversation(prompt):
            if not params.chat:
                raise GoldpanError(f"llm {self.base_url}: a conversation needs the chat endpoint")
            body["messages"] = [dict(m) for m in prompt]
            if body["messages"][-1]["role"] == "assistant":
                # A prefilled answer to continue: vLLM's extension of the chat endpoint.
                body.update(continue_final_message=True, add_generation_prompt=False)
        elif params.chat:
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        if params.stop:
            body["stop"] = list(params.stop)
        if params.presence_penalty:
            body["presence_penalty"] = params.presence_penalty
        if params.frequency_penalty:
            body["frequency_penalty"] = params.frequency_penalty
        if params.repetition_penalty != 1.0:
            body["repetition_penalty"] = params.repetition_penalty  # vLLM's extension
        if params.logprobs or params.top_logprobs:
            if params.chat:
                body["logprobs"] = True
                if params.top_logprobs:
                    body["top_logprobs"] = params.top_logprobs
            else:  # the legacy endpoint names how many alternatives to return
                body["logprobs"] = max(1, params.top_logprobs)
        if params.response_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "strict": True,
                                "schema": json.loads(params.response_schema)},
            }
        return body

    def _url(self, params: GenerationParams) -> str:
        return f"{self.base_url}/{'chat/completions' if params.chat else 'completions'}"

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            after = response.headers.get("retry-after")
            if after is not None:
                try:
                    return min(self.max_backoff, max(0.0, float(after)))
                except ValueError:
                    pass
        ceiling = min(self.max_backoff, self.backoff * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter"

    def _post(self, client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
        last, unreachable = "", False
        for attempt in range(self.max_retries + 1):
            response = None
            try:
                response = client.post(url, json=body)
            except httpx.TimeoutException:
                last, unreachable = f"timed out after {self.timeout:g} s", False
            except httpx.TransportError as error:
                last = f"connection failed ({type(error).__name__})"
                unreachable = isinstance(error, httpx.ConnectError)
            else:
                if response.status_code == 200:
                    return self._json(url, response)
                if response.status_code in RETRIED_STATUS or response.status_code >= 500:
                    last = f"HTTP {response.status_code}"
                else:
                    raise GoldpanError(
                        f"llm {url}: HTTP {response.status_code} {response.reason_phrase}: "
                        f"{self._message(response)}"
                    )
            if attempt < self.max_retries:
                time.sleep(self._delay(attempt, response))
        failure = ServerUnreachable if unreachable else GoldpanError
        raise failure(f"llm {url}: gave up after {self.max_retries + 1} attempts ({last})")

    @staticmethod
    def _message(response: httpx.Response) -> str:
        try:
            payload = response.json()
            error = payload.get("error", payload) if isinstance(payload, dict) else payload
            message = error.get("message", error) if isinstance(error, dict) else error
        except (json.JSONDecodeError, UnicodeDecodeError):
            message = response.text
        return " ".join(str(message).split())[:300] or "(no message)"

    @staticmethod
    def _json(url: str, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise GoldpanError(f"llm {url}: malformed response (not JSON)") from None
        if not isinstance(payload, dict):
            raise GoldpanError(f"llm {url}: malformed response (not a JSON object)")
        return payload

    def _parse(self, url: str, payload: dict[str, Any], chat: bool) -> Completion:
        try:
            choice = payload["choices"][0]
            text = choice["message"]["content"] if chat else choice["text"]
            if not isinstance(text, str):
                raise TypeError
        except (KeyError, IndexError, TypeError):
            raise GoldpanError(f"llm {url}: malformed response (no choices[0] text)") from None
        logprobs, top = None, None
        raw = choice.get("logprobs")
        try:
            if isinstance(raw, dict) and chat and isinstance(raw.get("content"), list):
                logprobs = [float(t["logprob"]) for t in raw["content"]]
                top = [{str(a["token"]): float(a["logprob"]) for a in t.get("top_logprobs") or []}
                       for t in raw["content"]]
            elif isinstance(raw, dict) and isinstance(raw.get("token_logprobs"), list):
                logprobs = [float(v) for v in raw["token_logprobs"] if v is not None]
                if isinstance(raw.get("top_logprobs"), list):
                    top = [{str(k): float(v) for k, v in (t or {}).items()}
                           for t in raw["top_logprobs"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise GoldpanError(f"llm {url}: malformed response (logprobs)") from None
        usage = payload.get("usage") or {}
        return Completion(
            text=text,
            logprobs=logprobs,
            prompt_tokens=int(usage.get("prompt_tokens", 0) or 0),
            completion_tokens=int(usage.get("completion_tokens", 0) or 0),
            finish_reason=str(choice.get("finish_reason") or "stop"),
            top_logprobs=top if top and any(top) else None,
        )

    def _one(
        self, client: httpx.Client, prompt: Prompt, sample: int, params: GenerationParams
    ) -> Completion:
        url = self._url(params)
        try:
            return self._parse(
                url, self._post(client, url, self._body(prompt, sample, params)), params.chat
            )
        except ServerUnreachable:
            raise
        except GoldpanError as error:
            if self.on_error != "record":
                raise
            return Completion("", finish_reason="error", error=str(error))

    # ------------------------------------------------------------------ interface
    def complete(
        self, requests: Sequence[tuple[Prompt, int]], params: GenerationParams
    ) -> Iterator[tuple[int, Completion]]:
        if not requests:
            return
        headers = {}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        limits = httpx.Limits(max_connections=self.concurrency)
        with (
            httpx.Client(timeout=self.timeout, headers=headers, limits=limits) as client,
            ThreadPoolExecutor(self.concurrency, thread_name_prefix="goldpan-llm") as pool,
        ):
            items = [
                (index, (client, prompt, sample, params))
                for index, (prompt, sample) in enumerate(requests)
            ]
            yield from bounded_map(pool, self._one, items, 2 * self.concurrency)
