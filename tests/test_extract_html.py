"""extract_html keeps a page's main text, math and code included, drops its boilerplate, and
never lets one page stall a worker."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

pytest.importorskip("trafilatura")
pytest.importorskip("resiliparse")

ARTICLE = " ".join(
    ["The committee met on Tuesday to discuss the new bridge over the river, which has been "
     "closed for repairs since the spring floods damaged two of its supports."] * 4
)
SECOND = " ".join(
    ["Engineers expect the work to take another six months, and the town has arranged a "
     "ferry for commuters in the meantime, running every twenty minutes."] * 4
)
MATH_BLOCK = (
    '<math display="block" alttext="x=\\frac{-b\\pm\\sqrt{b^2-4ac}}{2a}"><semantics><mrow>'
    '<mi>x</mi><mo>=</mo></mrow><annotation encoding="application/x-tex">'
    "x=\\frac{-b\\pm\\sqrt{b^2-4ac}}{2a}</annotation></semantics></math>"
)
CODE = "def roots(a, b, c):\n    d = (b * b - 4 * a * c) ** 0.5\n    return (-b + d) / (2 * a)"


def page(body: str) -> str:
    return (
        "<html><head><title>Bridge news</title></head><body>"
        '<nav><a href="/">Home</a> | <a href="/news">News</a> | <a href="/shop">Shop</a></nav>'
        '<div class="ad sponsored">Buy cheap watches now! Limited offer, click here!</div>'
        f"<main><article><h1>Bridge repairs continue</h1>{body}</article></main>"
        "<footer>Copyright 2024 Example Media Inc. All rights reserved. Privacy policy. "
        "Terms of use.</footer></body></html>"
    )


NEWS = page(f"<p>{ARTICLE}</p><p>{SECOND}</p>")
MATHS = page(f"<p>{ARTICLE}</p><p>The roots are {MATH_BLOCK} for any a.</p>"
             f"<p>Euler: $e^{{i\\pi}}+1=0$ holds.</p><pre><code>{CODE}</code></pre><p>{SECOND}</p>")
# Tens of thousands of paragraphs: trafilatura needs tens of seconds for it.
PATHOLOGICAL = "<html><body>" + "".join(
    f"<p>Sentence number {i} of a very long page.</p>" for i in range(50_000)) + "</body></html>"


def _run(pages: list[str], types: list[str] | None = None, **options):  # type: ignore[no-untyped-def]
    from goldpan.curate.html.step import ExtractHtml

    step = ExtractHtml(ExtractHtml.Options(**options))
    columns = {"id": [str(i) for i in range(len(pages))], "text": pages}
    if types is not None:
        columns["content_type"] = types
    out = step.process(pa.table(columns))
    step.sandbox.close()
    return out.column("text").to_pylist(), out.column("reject_reason").to_pylist()


@pytest.mark.parametrize("extractor", ["trafilatura", "resiliparse"])
def test_the_main_text_is_kept_and_the_boilerplate_left_behind(extractor: str) -> None:
    (text,), (reason,) = _run([NEWS], extractor=extractor)
    assert reason is None
    assert ARTICLE in text and SECOND in text
    for boilerplate in ("Buy cheap watches", "Copyright 2024", "Privacy policy"):
        assert boilerplate not in text


@pytest.mark.parametrize("extractor", ["trafilatura", "resiliparse"])
def test_math_and_code_survive_extraction(extractor: str) -> None:
    (text,), _ = _run([MATHS], extractor=extractor)
    assert "$$x=\\frac{-b\\pm\\sqrt{b^2-4ac}}{2a}$$" in text  # MathML as its TeX, once
    assert text.count("\\frac") == 1
    assert "$e^{i\\pi}+1=0$" in text
    assert "return (-b + d) / (2 * a)" in text and "    d = (b * b" in text


def test_a_page_past_the_time_limit_is_rejected_within_it_and_the_rest_go_on() -> None:
    from goldpan.curate.html.step import ExtractHtml

    step = ExtractHtml(ExtractHtml.Options(timeout_s=1.0))
    step.sandbox.extract_all([NEWS])  # the extraction process is started and warm
    started = time.perf_counter()
    out = step.process(pa.table({"id": ["a", "b", "c"], "text": [NEWS, PATHOLOGICAL, NEWS]}))
    elapsed = time.perf_counter() - started
    step.sandbox.close()
    assert out.column("reject_reason").to_pylist() == [None, "extract_html:timeout", None]
    assert ARTICLE in out.column("text")[2].as_py()  # a fresh process took the rest
    assert elapsed < 15  # the page alone takes tens of seconds


def test_too_large_and_empty_pages_get_their_own_reasons() -> None:
    _, reasons = _run([NEWS, "<html><body><script>var x = 1;</script></body></html>"],
                          max_html_chars=len(NEWS) - 1)
    assert reasons == ["extract_html:too_large", "extract_html:empty"]


def test_text_records_pass_unchanged_and_extracted_ones_become_plain_text() -> None:
    from goldpan.curate.html.step import ExtractHtml

    step = ExtractHtml()
    batch = pa.table({"id": ["a", "b"], "text": ["Already plain text.", NEWS],
                      "content_type": ["text/plain", "text/html"]})
    out = step.process(batch)
    step.sandbox.close()
    assert out.column("text")[0].as_py() == "Already plain text."
    assert out.column("content_type").to_pylist() == ["text/plain", "text/plain"]
    assert out.column("reject_reason").to_pylist() == [None, None]


def test_mathml_without_tex_is_left_for_the_extractor() -> None:
    from goldpan.curate.html.extractors import math_as_tex

    bare = "<p><math><mi>x</mi></math></p>"
    assert math_as_tex(bare) == bare
    assert math_as_tex('<math alttext="a &lt; b"><mi>a</mi></math>') == "$a &lt; b$"


def test_a_started_step_travels_to_a_worker_without_its_process() -> None:
    import pickle

    from goldpan.curate.html.step import ExtractHtml

    step = ExtractHtml()
    step.sandbox.extract_all([NEWS])
    clone = pickle.loads(pickle.dumps(step))
    step.sandbox.close()
    assert "sandbox" not in clone.__dict__  # the worker starts its own
    assert clone.options == step.options
