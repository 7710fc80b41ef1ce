"""fastText models (language ID, quality classifiers), loaded once per worker process."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from goldpan.errors import GoldpanError


@lru_cache(maxsize=2)
def load_fasttext(path: str) -> Any:
    """One model per worker process, loaded on first use."""
    try:
        import fasttext
    except ImportError:
        raise GoldpanError("langid needs fastText: pip install fasttext-numpy2-wheel") from None
    fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence its load warning
    return fasttext.load_model(path)
