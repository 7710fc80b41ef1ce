"""url_filter decides by the URL alone and names the rule that rejected a page."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

pytest.importorskip("tldextract")

CASES = [
    # url, expected reason (None: kept), matched entry
    ("https://news.example.org/2024/bridge", None, None),
    ("https://blocked.com/page", "domain", "blocked.com"),
    ("http://www.blocked.com/", "domain", "blocked.com"),
    ("https://shop.blocked.com/a", "domain", "blocked.com"),  # the registered domain rules
    ("https://ads.tracker.net/x", "subdomain", "ads.tracker.net"),
    ("https://x.ads.tracker.net/x", "subdomain", "ads.tracker.net"),
    ("https://www.tracker.net/x", None, None),  # only its ads subdomain is listed
    ("https://blocked.com.evil.io/", None, None),  # a listed name inside another domain
    ("https://a.example.co.uk/x", "domain", "example.co.uk"),  # public suffix aware
    ("http://www.spam.org/buy-now/", "url", "spam.org/buy-now"),
    ("https://spam.org/buy-now/other", None, None),
    ("https://site.org/PORN/videos", "banned_word", "porn"),  # lowercased before comparing
    ("https://site.org/pornography-history", None, None),  # not the whole word
    ("https://site.org/sexy-teens", "soft_banned_words", "sexy teens"),
    ("https://site.org/sex-education", None, None),  # one soft word is not enough
    ("https://site.org/freexvideoshd.html", "banned_subword", "xvideos"),
    (None, "missing_url", None),
]


def test_each_url_gets_the_rule_that_matches_it(tmp_path: Path) -> None:
    from goldpan.curate.url_filter import UrlFilter

    domains = tmp_path / "domains.txt"
    domains.write_text("# block list\nblocked.com\nads.tracker.net\nexample.co.uk\n")
    urls = tmp_path / "urls.txt"
    urls.write_text("spam.org/buy-now\n")
    step = UrlFilter(UrlFilter.Options(block_domains=[str(domains)], block_urls=[str(urls)]))
    out = step.process(pa.table({"id": [str(i) for i in range(len(CASES))],
                                 "url": [c[0] for c in CASES]}))
    reasons = out.column("reject_reason").to_pylist()
    matched = out.column("reject_url_rule").to_pylist()
    for (url, rule, entry), reason, found in zip(CASES, reasons, matched, strict=True):
        assert reason == (None if rule is None else f"url_filter:{rule}"), url
        assert found == entry, url
    assert out.column("domain").to_pylist()[0] == "example.org"
    assert out.column("domain").to_pylist()[8] == "example.co.uk"


UNKNOWN_SUFFIX_CASES = [
    # hosts whose suffix tldextract's snapshot does not know: the host and its parents are
    # compared with the block list, whatever the suffix
    ("http://bad.example/page", "domain", "bad.example"),
    ("http://a.bad.example/page", "domain", "bad.example"),
    ("https://api.corp.internal/v1", "domain", "corp.internal"),
    ("https://www.evil.test/", "domain", "evil.test"),
    ("http://10.0.0.7/admin", "domain", "10.0.0.7"),
    ("http://good.example/page", None, None),
    ("http://bad.example.good.test/", None, None),  # a listed name inside another host
]


def test_a_block_listed_host_is_blocked_whatever_its_suffix() -> None:
    from goldpan.curate.url_filter import UrlFilter

    step = UrlFilter(UrlFilter.Options(
        domains=["bad.example", "corp.internal", "evil.test", "10.0.0.7"]))
    for url, rule, entry in UNKNOWN_SUFFIX_CASES:
        _, found_rule, found_entry = step.verdict(url)
        assert (found_rule, found_entry) == (rule, entry), url
    assert step.verdict("http://a.bad.example/x")[0] == "a.bad.example"  # the host, no suffix


def test_a_missing_block_list_is_a_one_line_error(tmp_path: Path) -> None:
    from goldpan.curate.url_filter import UrlFilter
    from goldpan.errors import GoldpanError

    step = UrlFilter(UrlFilter.Options(block_domains=[str(tmp_path / "nowhere.txt")]))
    with pytest.raises(GoldpanError, match=r"url_filter\.block_domains: cannot read"):
        step.process(pa.table({"id": ["a"], "url": ["https://a.org/"]}))


def test_without_the_default_lists_only_the_given_words_count() -> None:
    from goldpan.curate.url_filter import UrlFilter

    step = UrlFilter(UrlFilter.Options(default_lists=False, banned_words=["casino"]))
    out = step.process(pa.table({"id": ["a", "b"], "url": ["https://a.org/porn",
                                                             "https://a.org/casino-bonus"]}))
    assert out.column("reject_reason").to_pylist() == [None, "url_filter:banned_word"]


def test_the_domain_can_become_the_source() -> None:
    from goldpan.curate.url_filter import UrlFilter

    step = UrlFilter(UrlFilter.Options(domain_as_source=True))
    out = step.process(pa.table({"id": ["a", "b"], "source": ["crawl", "crawl"],
                                 "url": ["https://x.news.example.com/a", None]}))
    assert out.column("source").to_pylist() == ["example.com", "crawl"]
