"""A small web crawl built from the embedded demo corpus, so the web path runs offline.

Each document becomes an HTML page the way sites publish text: a navigation bar, a cookie
notice, an advertisement, a sidebar of links, the text in an ``<article>`` (paragraphs, code
in ``<pre>``), related links and a footer around it. The pages go into a gzipped WARC written
with warcio, as a crawler would store them: a response record per page with its HTTP head,
French and Spanish pages partly in Windows-1252, and the usual noise of a crawl: request
records, images, a few pages at adult-sounding URLs, and one stretch of bytes that is no
record. ``recipes/web.yaml`` turns it into training tokens.
"""

from __future__ import annotations

import gzip
import html
import io
import random
import re
from pathlib import Path
from typing import Any

from goldpan.data.json_lines import read_json_objects
from goldpan.errors import GoldpanError

HOSTS = {  # invented sites, one per origin, so a crawl breaks down by domain
    "wikipedia_en": "en.goldpan-encyclopedia.org", "wikipedia_fr": "fr.goldpan-encyclopedia.org",
    "wikipedia_es": "es.goldpan-encyclopedia.org", "markov": "www.goldpan-textfarm.net",
    "news": "www.goldpan-daily-news.com", "usenet": "forum.goldpan-usenet.org",
    "code": "docs.goldpan-code.dev", "chat": "www.goldpan-answers.com",
}
NAV = ["Home", "News", "Topics", "About us", "Contact", "Shop", "Log in"]
ADS = ["Buy one, get one free! Limited offer at MegaStore.",
       "Lose weight fast with this one weird trick.",
       "Cheap flights to 200 destinations: book now and save 40%."]
SIDEBAR = ["Most read", "Trending now", "Editor's picks", "Newsletter", "Follow us"]
FOOTER = ("Copyright 2024 Example Media Group. All rights reserved. Privacy policy. "
          "Terms of use. Cookie settings.")
JUNK = b"HTTP/1.1 200 OK\r\nthis is a stray fragment, no WARC record\r\n\r\n"


def _slug(text: str, number: int) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())[:6]
    return "-".join(words or ["page"]) + f"-{number}"


def _body(document: dict[str, Any]) -> str:
    text = document["text"]
    if document.get("source") == "code":
        return f"<pre><code>{html.escape(text)}</code></pre>"
    blocks = [b for b in re.split(r"\n\s*\n|\n", text) if b.strip()]
    return "".join(f"<p>{html.escape(b.strip())}</p>" for b in blocks)


def page_html(document: dict[str, Any], rng: random.Random, charset: str = "utf-8") -> str:
    """An article page: the document's text inside a site's boilerplate."""
    title = html.escape(document.get("title") or document["text"][:60])
    nav = " | ".join(f'<a href="/{n.lower().replace(" ", "-")}">{n}</a>' for n in NAV)
    related = "".join(f'<li><a href="/story-{rng.randrange(10_000)}">{s}</a></li>'
                      for s in rng.sample(SIDEBAR, 3))
    meta = f'<meta charset="{charset}">' if rng.random() < 0.5 else ""
    return (
        f"<!DOCTYPE html><html><head>{meta}<title>{title}</title></head><body>"
        f'<header><nav class="menu">{nav}</nav></header>'
        '<div class="cookie-banner">We use cookies to improve your experience. '
        '<button>Accept all</button></div>'
        f'<aside class="ad">{rng.choice(ADS)}</aside>'
        f"<main><article><h1>{title}</h1>{_body(document)}</article></main>"
        f'<aside class="sidebar"><h3>Related</h3><ul>{related}</ul></aside>'
        f'<footer><p>{FOOTER}</p></footer></body></html>'
    )


def build_demo_warc(corpus: str | Path, path: str | Path, pages: int = 2000,
                    seed: int = 0, stray_bytes: bool = True) -> int:
    """Write ``pages`` article pages (plus the crawl's noise, with or without the stray bytes)
    from the corpus; the number of article pages written."""
    try:
        from warcio.statusandheaders import StatusAndHeaders
        from warcio.warcwriter import WARCWriter
    except ImportError:
        raise GoldpanError("the web demo needs the web extra: pip install 'goldpan[web]'") from None
    rng = random.Random(seed)
    documents = read_json_objects(corpus, "corpus")
    rng.shuffle(documents)
    documents = documents[:pages]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)

    def response(url: str, body: bytes, content_type: str) -> None:
        http = StatusAndHeaders("200 OK", [("Content-Type", content_type),
                                           ("Content-Length", str(len(body)))],
                                protocol="HTTP/1.1")
        request = StatusAndHeaders(f"GET {url} HTTP/1.1", [("User-Agent", "goldpan-demo")],
                                   is_http_request=True)
        writer.write_record(writer.create_warc_record(url, "request", http_headers=request))
        # Common Crawl names the sniffed type of each payload; readers such as datatrove's
        # rely on it.
        identified = {"WARC-Identified-Payload-Type": content_type.split(";")[0]}
        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                      http_headers=http,
                                                      warc_headers_dict=identified))

    for number, document in enumerate(documents):
        source = document.get("source", "web")
        host = HOSTS.get(source, "www.goldpan-web.org")
        url = f"https://{host}/{_slug(document['text'], number)}.html"
        latin = source in ("wikipedia_fr", "wikipedia_es") and rng.random() < 0.5
        charset = "windows-1252" if latin else "utf-8"
        page = page_html(document, rng, charset)
        try:
            body = page.encode(charset)
        except UnicodeEncodeError:
            body, charset = page.encode("utf-8"), "utf-8"
        declared = f"text/html; charset={charset}" if rng.random() < 0.7 else "text/html"
        response(url, body, declared)
        if number % 97 == 0:
            response(f"https://{host}/images/photo-{number}.jpg", b"\xff\xd8\xff\xe0" + bytes(256),
                     "image/jpeg")
        if number % 211 == 0:
            response(f"https://xxx-hot-videos.goldpan-spam.biz/watch/{number}", body,
                     "text/html")
        if stray_bytes and number == len(documents) // 2:
            buffer.write(gzip.compress(JUNK))
    path.write_bytes(buffer.getvalue())
    return len(documents)
