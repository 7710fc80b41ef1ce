"""Registered domains without the network: tldextract with the public-suffix snapshot it ships.

tldextract fetches the live public suffix list on first use unless told not to; goldpan runs
offline, and the bundled snapshot is enough to tell ``bbc.co.uk`` from ``co.uk``.
"""

from __future__ import annotations

from typing import Any


def offline_domain_extractor() -> Any:
    """A ``tldextract.TLDExtract`` that never downloads and keeps no cache folder (raises
    ImportError without tldextract)."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
