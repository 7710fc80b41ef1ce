"""A SQLite cache of completions: a rerun costs nothing, an interrupted run resumes.

The key hashes the backend, the model, the prompt, the parameters (all but ``n``) and the
sample index. Each completion is written as soon as it arrives (WAL mode, one short
transaction each), so whatever finished before an interruption is kept."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

from goldpan.llm.params import Completion, GenerationParams, Prompt


def cache_key(backend: str, model: str, prompt: Prompt,
              params: GenerationParams, index: int) -> str:
    """A text prompt keys as it always did; a conversation by its messages' JSON."""
    payload = json.dumps(
        [backend, model, prompt, params.key_fields(), index], sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


class GenerationCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        self._db.commit()

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM completions WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return Completion(**json.loads(row[0]), cached=True)

    def put(self, key: str, completion: Completion) -> None:
        value = json.dumps(
            {
                "text": completion.text,
                "logprobs": completion.logprobs,
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "finish_reason": completion.finish_reason,
                "top_logprobs": completion.top_logprobs,
            },
            ensure_ascii=False,
        )
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO completions (key, value) VALUES (?, ?)", (key, value)
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
