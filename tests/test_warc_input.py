"""Web archives as input: every response record is a document kept or rejected with a reason,
whatever the compression, the charset, or the damage in the file."""

from __future__ import annotations

import gzip
import io
import itertools
from pathlib import Path

import pytest

from tests.conftest import read_output, read_rejects, run_steps_on

warcio = pytest.importorskip("warcio")
from warcio.statusandheaders import StatusAndHeaders  # noqa: E402
from warcio.warcwriter import WARCWriter  # noqa: E402

JUNK = b"this line is no WARC record\r\n\r\n"


def _record(url: str, body: bytes, content_type: str, gz: bool, kind: str = "response") -> bytes:
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=gz)
    if kind == "response":
        http = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
        record = writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                           http_headers=http)
    else:
        record = writer.create_warc_record(url, kind, payload=io.BytesIO(body),
                                           warc_content_type=content_type)
    writer.write_record(record)
    return buffer.getvalue()


def _page(words: str) -> str:
    return f"<html><head><title>{words}</title></head><body><p>{words}</p></body></html>"


def _archive(path: Path, gz: bool, junk: bool = False) -> list[str]:
    """A small crawl: UTF-8 pages, one in Windows-1252 named by its HTTP header, one in
    Shift_JIS named only by its meta tag, a request record, an image, and (``junk``) bytes
    that are no record between two pages. Returns the URLs of the HTML pages in order."""
    parts = [
        _record("http://a.example/", _page("Plain café prose").encode(), "text/html", gz),
        _record("http://a.example/", b"GET / HTTP/1.1\r\n\r\n", "application/http", gz,
                kind="request"),
        _record("http://b.example/", _page("Crème brûlée").encode("cp1252"),
                "text/html; charset=windows-1252", gz),
        _record("http://c.example/img.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png", gz),
    ]
    if junk:
        parts.append(gzip.compress(JUNK) if gz else JUNK)
    shift_jis = ('<html><head><meta charset="shift_jis"><title>t</title></head><body>'
                 "<p>日本語の文章です。</p></body></html>").encode("shift_jis")
    parts.append(_record("http://d.example/", shift_jis, "text/html", gz))
    path.write_bytes(b"".join(parts))
    return ["http://a.example/", "http://b.example/", "http://d.example/"]


def _run(path: Path, out: Path, **fields: object):  # type: ignore[no-untyped-def]
    run_steps_on(path, out, [], **{"id_field": None, **fields})
    return read_output(out), read_rejects(out)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_every_html_response_is_a_document_with_its_url_date_and_record_id(
    tmp_path: Path, gz: bool
) -> None:
    path = tmp_path / ("crawl.warc.gz" if gz else "crawl.warc")
    urls = _archive(path, gz)
    kept, rejects = _run(path, tmp_path / "run")
    assert kept.column("url").to_pylist() == urls
    texts = kept.column("text").to_pylist()
    assert "Plain café prose" in texts[0]
    assert "Crème brûlée" in texts[1]  # decoded with the HTTP header's charset
    assert "日本語の文章です。" in texts[2]  # decoded with the meta tag's charset
    assert all(i.startswith(f"{path.name}:") for i in kept.column("id").to_pylist())
    offsets = [int(i.rsplit(":", 1)[1]) for i in kept.column("id").to_pylist()]
    assert offsets[0] == 0 and offsets == sorted(offsets)
    assert all(r.startswith("<urn:uuid:") for r in kept.column("warc_record_id").to_pylist())
    assert all(d for d in kept.column("date").to_pylist())
    assert set(kept.column("http_status").to_pylist()) == {200}
    # The request record is no document; the image is one, rejected as not HTML.
    assert rejects.column("reject_reason").to_pylist() == ["read:not_html"]
    assert "image/png" in rejects.column("text")[0].as_py()


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_bytes_that_are_no_record_are_one_reject_and_reading_resumes_after_them(
    tmp_path: Path, gz: bool
) -> None:
    path = tmp_path / ("crawl.warc.gz" if gz else "crawl.warc")
    urls = _archive(path, gz, junk=True)
    kept, rejects = _run(path, tmp_path / "run")
    assert kept.column("url").to_pylist() == urls  # the page after the junk is read too
    assert sorted(rejects.column("reject_reason").to_pylist()) == [
        "read:malformed_warc", "read:not_html"]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_a_file_cut_inside_its_last_record_keeps_every_whole_record(
    tmp_path: Path, gz: bool
) -> None:
    whole = tmp_path / "whole.warc"
    _archive(whole, gz)
    path = tmp_path / ("cut.warc.gz" if gz else "cut.warc")
    last = _record("http://e.example/", _page("the last page").encode(), "text/html", gz)
    path.write_bytes(whole.read_bytes() + last[: len(last) // 2])
    kept, rejects = _run(path, tmp_path / "run")
    assert kept.num_rows == 3
    assert sorted(rejects.column("reject_reason").to_pylist()) == [
        "read:malformed_warc", "read:not_html"]


def test_wet_text_records_are_documents_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.wet.gz"
    text = "Extracted text of a page.\nSecond line, ünïcödé."
    path.write_bytes(_record("http://a.example/", text.encode(), "text/plain", True,
                             kind="conversion"))
    kept, rejects = _run(path, tmp_path / "run")
    assert kept.column("text").to_pylist() == [text]
    assert kept.column("content_type").to_pylist() == ["text/plain"]
    assert rejects.num_rows == 0


def test_the_warc_record_id_can_be_the_id(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    _archive(path, True)
    kept, _ = _run(path, tmp_path / "run", id_field="warc_record_id")
    assert kept.column("id").to_pylist()[0].startswith("<urn:uuid:")


def test_web_archives_are_recognised_by_their_names(tmp_path: Path) -> None:
    from goldpan.data.inputs import expand_inputs

    for name in ("a.warc", "b.warc.gz", "c.warc.wet.gz", "d.wet"):
        (tmp_path / name).write_bytes(b"")
    assert {f.format for f in expand_inputs([str(tmp_path)])} == {"warc"}


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_a_big_archive_is_read_in_ranges_that_together_hold_every_record_once(
    tmp_path: Path, gz: bool
) -> None:
    from goldpan.data.config import InputConfig
    from goldpan.data.inputs import expand_inputs
    from goldpan.data.readers import read_input, split_input

    path = tmp_path / ("big.warc.gz" if gz else "big.warc")
    pages = [_record(f"http://x.example/{n}", _page(f"page number {n}").encode(), "text/html", gz)
             for n in range(40)]
    pages.insert(17, gzip.compress(JUNK) if gz else JUNK)
    path.write_bytes(b"".join(pages))
    (unit,) = expand_inputs([str(path)])
    ranges = split_input(unit, 2_000)
    assert len(ranges) > 3 and ranges[0].start == 0 and ranges[-1].end == unit.size
    assert all(a.end == b.start for a, b in itertools.pairwise(ranges))
    config = InputConfig(paths=[str(path)])
    ids, rejects = [], []
    for part in ranges:
        for chunk, _ in read_input(part, config):
            ids += chunk.records.column("id").to_pylist()
            rejects += chunk.rejects.column("reject_reason").to_pylist()
    whole = [i for chunk, _ in read_input(unit, config)
             for i in chunk.records.column("id").to_pylist()]
    assert ids == whole and len(ids) == 40
    assert rejects == ["read:malformed_warc"]
    # And through a run with two workers: the ledger holds.
    kept, _ = _run(path, tmp_path / "run", split_bytes=2_000)
    assert kept.num_rows == 40


def test_a_crawl_becomes_main_text_with_every_record_accounted_for(tmp_path: Path) -> None:
    pytest.importorskip("trafilatura")
    path = tmp_path / "crawl.warc.gz"
    article = " ".join(["A long article sentence about rivers, bridges and the town."] * 8)
    pages = [
        _record("http://a.example/", (f"<html><body><nav>Home | About</nav><article><p>"
                                      f"{article}</p></article><footer>Copyright</footer>"
                                      "</body></html>").encode(), "text/html", True),
        _record("http://b.example/", b"<html><body><script>x()</script></body></html>",
                "text/html", True),
        _record("http://c.example/a.png", b"\x89PNG", "image/png", True),
    ]
    path.write_bytes(b"".join(pages))
    run_steps_on(path, tmp_path / "run", [{"name": "extract_html"}], id_field=None)
    kept, rejects = read_output(tmp_path / "run"), read_rejects(tmp_path / "run")
    assert kept.column("text").to_pylist() == [article]
    assert sorted(rejects.column("reject_reason").to_pylist()) == [
        "extract_html:empty", "read:not_html"]


def test_an_undeclared_page_that_is_valid_utf8_is_read_as_utf8(tmp_path: Path) -> None:
    """Found by benchmarks/web.py: uchardet took short UTF-8 pages with a few accents for
    Windows-1250 or -1252 (``Göttingen`` became ``GĂ¶ttingen``)."""
    path = tmp_path / "crawl.warc.gz"
    text = "Gauss was director of the Göttingen Observatory in Germany."  # uchardet: cp1250
    path.write_bytes(_record("http://a.example/", f"<html><body><p>{text}</p></body></html>"
                             .encode(), "text/html", True))
    kept, _ = _run(path, tmp_path / "run")
    assert text in kept.column("text")[0].as_py()
