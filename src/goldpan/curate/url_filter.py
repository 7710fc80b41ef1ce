"""``url_filter``: drop pages by where they come from, before anything parses them.

Rules, in the order they are checked (the reject names the rule and, in ``reject_url_rule``,
the entry that matched):
- ``url_filter:missing_url``: the record has no URL;
- ``url_filter:domain``: its registered domain (``example.co.uk`` of ``a.b.example.co.uk``,
  by the public-suffix list tldextract bundles; nothing is downloaded) is block-listed;
- ``url_filter:subdomain``: its host, or a parent of it below the registered domain, is;
  a host whose suffix the snapshot does not know (``.example``, ``.test``, ``.internal``, a
  gTLD newer than the snapshot) has no registered domain, so the host and every parent of it
  are compared instead, and a match is ``url_filter:domain``;
- ``url_filter:url``: the URL itself is (compared without scheme, ``www.`` and trailing ``/``);
- ``url_filter:banned_word``: a banned word is a whole word of the URL;
- ``url_filter:soft_banned_words``: at least ``soft_word_threshold`` soft-banned words are;
- ``url_filter:banned_subword``: a banned subword occurs in the URL with punctuation removed.
These are datatrove's URLFilter rules (FineWeb's), with the URL's words lowercased before they
are compared (datatrove compares them as written, so ``/PORN/`` passes there) and block-listed
URLs compared without their scheme (block lists such as UT1 write them without). One more
difference: datatrove compares only the registered domain and the whole host, so listing
``ads.tracker.net`` there does not block ``x.ads.tracker.net``; here a listed host blocks its
subdomains too. Every kept or rejected record gets a ``domain`` column (its registered domain,
or the host when its suffix is unknown).
"""

from __future__ import annotations

import re
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import Field

from goldpan.data.schema import SOURCE
from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions, with_column, with_reject_reasons
from goldpan.errors import GoldpanError
from goldpan.util.domains import offline_domain_extractor

_NOT_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


class UrlFilterOptions(StepOptions):
    url_field: str = Field("url", description="Column holding the page's URL.")
    block_domains: list[str] = Field(
        default_factory=list, description="Files of block-listed domains, one a line."
    )
    block_urls: list[str] = Field(
        default_factory=list, description="Files of block-listed URLs, one a line."
    )
    domains: list[str] = Field(default_factory=list, description="More domains, inline.")
    urls: list[str] = Field(default_factory=list, description="More URLs, inline.")
    banned_words: list[str] = Field(default_factory=list, description="More banned words.")
    soft_banned_words: list[str] = Field(
        default_factory=list, description="More soft-banned words."
    )
    banned_subwords: list[str] = Field(default_factory=list, description="More subwords.")
    soft_word_threshold: int = Field(2, gt=0, description="Soft-banned words that reject.")
    default_lists: bool = Field(
        True, description="Also use goldpan's small word lists (resources/url_filter)."
    )
    domain_as_source: bool = Field(
        False, description="Set each record's source to its domain, so the stats, the report "
        "and the token manifest break a crawl down by site.",
    )


def _entries(lines: Any) -> list[str]:
    return [line.strip().lower() for line in lines if line.strip() and
            not line.lstrip().startswith("#")]


def _read_list(path: str, option: str) -> list[str]:
    try:
        return _entries(Path(path).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError) as error:
        raise GoldpanError(f"url_filter.{option}: cannot read {path}: {error}") from None


def default_word_list(name: str) -> list[str]:
    """One of goldpan's shipped URL word lists (``banned_words.txt``, ``soft_banned_words.txt``,
    ``banned_subwords.txt``; resources/url_filter/README.md says where they come from)."""
    text = (resources.files("goldpan.resources") / "url_filter" / name).read_text("utf-8")
    return _entries(text.splitlines())


def _without_www(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


def _host_and_parents(host: str) -> list[str]:
    """``a.b.c`` -> ``a.b.c``, ``b.c``, ``c``: the names a block list may name the host by."""
    labels = host.split(".")
    return [".".join(labels[start:]) for start in range(len(labels))]


def url_key(url: str) -> str:
    """A URL as block lists write it: no scheme, no ``www.``, no trailing slash, lowercase."""
    key = _SCHEME.sub("", url.strip()).lower()
    key = key[4:] if key.startswith("www.") else key
    return key.rstrip("/")


@register_step
class UrlFilter(MapStep[UrlFilterOptions]):
    """Reject pages whose domain, host or URL is block-listed or whose URL holds banned
    words."""

    name = "url_filter"
    text_side = "all"

    @cached_property
    def _extract(self):
        try:
            return offline_domain_extractor()
        except ImportError:
            raise GoldpanError(
                "url_filter needs the web extra: pip install 'goldpan[web]'"
            ) from None

    @cached_property
    def _rules(self) -> dict[str, Any]:
        o = self.options
        words = {"banned_words": list(o.banned_words), "soft_banned_words":
                 list(o.soft_banned_words), "banned_subwords": list(o.banned_subwords)}
        if o.default_lists:
            for name in words:
                words[name] += default_word_list(f"{name}.txt")
        domains = set(_entries(o.domains))
        for path in o.block_domains:
            domains.update(_read_list(path, "block_domains"))
        urls = {url_key(u) for u in _entries(o.urls)}
        for path in o.block_urls:
            urls.update(url_key(u) for u in _read_list(path, "block_urls"))
        subwords = sorted({re.sub(_NOT_ALPHANUMERIC, "", w) for w in words["banned_subwords"]}
                          - {""})
        return {
            "domains": domains,
            "urls": urls,
            "banned": set(_entries(words["banned_words"])),
            "soft": set(_entries(words["soft_banned_words"])),
            "subwords": re.compile("|".join(map(re.escape, subwords))) if subwords else None,
        }

    def verdict(self, url: str | None) -> tuple[str | None, str | None, str | None]:
        """(registered domain, rule, matched entry) of one URL; rule None keeps it."""
        if not url:
            return None, "missing_url", None
        rules = self._rules
        parts = self._extract(url)
        if not parts.suffix:
            return self._unknown_suffix_verdict(url, parts)
        registered = parts.top_domain_under_public_suffix.lower()
        host = _without_www(parts.fqdn.lower())
        if registered in rules["domains"]:
            return registered, "domain", registered
        for candidate in _host_and_parents(host):
            if candidate == registered:
                break
            if candidate in rules["domains"]:
                return registered, "subdomain", candidate
        return self._url_verdict(url, registered)

    def _unknown_suffix_verdict(
        self, url: str, parts: Any
    ) -> tuple[str | None, str | None, str | None]:
        """No registered domain to go by (an IP, ``localhost``, a suffix newer than the
        snapshot): the host and each of its parents are compared with the block list."""
        host = _without_www(".".join(p for p in (parts.subdomain, parts.domain) if p).lower())
        for candidate in _host_and_parents(host):
            if candidate in self._rules["domains"]:
                return host or None, "domain", candidate
        return self._url_verdict(url, host or None)

    def _url_verdict(
        self, url: str, registered: str | None
    ) -> tuple[str | None, str | None, str | None]:
        """The rules on the URL itself, once its host has passed."""
        rules = self._rules
        key = url_key(url)
        if key in rules["urls"]:
            return registered, "url", key
        words = set(_NOT_ALPHANUMERIC.split(url.lower()))
        banned = words & rules["banned"]
        if banned:
            return registered, "banned_word", min(banned)
        soft = words & rules["soft"]
        if len(soft) >= self.options.soft_word_threshold:
            return registered, "soft_banned_words", " ".join(sorted(soft))
        if rules["subwords"] is not None:
            found = rules["subwords"].search(_NOT_ALPHANUMERIC.sub("", url.lower()))
            if found:
                return registered, "banned_subword", found.group(0)
        return registered, None, None

    def process(self, batch: pa.Table) -> pa.Table:
        field = self.options.url_field
        urls = (batch.column(field).to_pylist() if field in batch.column_names
                else [None] * batch.num_rows)
        domains, reasons, matched = [], [], []
        for url in urls:
            domain, rule, entry = self.verdict(url)
            domains.append(domain)
            reasons.append(None if rule is None else self.reason(rule))
            matched.append(entry)
        batch = with_column(batch, "domain", pa.array(domains, pa.string()))
        if self.options.domain_as_source:
            sources = batch.column(SOURCE).to_pylist()
            batch = with_column(batch, SOURCE, pa.array(
                [d or s for d, s in zip(domains, sources, strict=True)], pa.string()))
        batch = with_column(batch, "reject_url_rule", pa.array(matched, pa.string()))
        return with_reject_reasons(batch, reasons)
