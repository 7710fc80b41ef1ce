"""The web demo: a crawl built from real text, through recipes/web.yaml, to tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import goldpan

pytest.importorskip("warcio")
pytest.importorskip("trafilatura")


def test_a_crawl_of_the_corpus_becomes_tokens_with_every_record_accounted_for(
    corpus: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data" / "corpus.jsonl"
    data.parent.mkdir()
    data.write_bytes(corpus.read_bytes())
    out = tmp_path / "run"
    goldpan("demo", "--web", "--pages", "150", "--data", str(data), "--out", str(out),
            "--workers", "2", "--quiet", check=True)
    assert (tmp_path / "data" / "crawl.warc.gz").is_file()
    verified = goldpan("verify", str(out), check=True)
    assert "ledger holds" in verified.stdout + verified.stderr
    stats = json.loads((out / "stats.json").read_text())
    read = stats["stages"][0]
    assert read["rejects"]["read:not_html"] >= 1  # the crawl's images
    assert read["rejects"]["read:malformed_warc"] == 1  # its stray bytes
    manifest = json.loads((out / "output" / "manifest.json").read_text())
    assert manifest["documents"] > 0 and manifest["tokens"] > 100 * manifest["documents"]
    assert "goldpan-encyclopedia.org" in manifest["by_source"]  # the crawl by site
