"""The report and the inspector in a real headless Chromium (Debian's, driven by Playwright):
pages render without console errors and nothing is fetched from beyond this machine.

`make test` installs chromium and sets GOLDPAN_REQUIRE_BROWSER=1, so there a missing browser
fails the suite; a bare `pytest` elsewhere skips these tests instead.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = os.environ.get("GOLDPAN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if not Path(CHROMIUM).exists():
        return f"no chromium at {CHROMIUM} (Debian package chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator:
    missing = _browser_missing()
    if missing:
        if os.environ.get("GOLDPAN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield instance
        instance.close()


class Watched:
    """A page with every console error, page error and request recorded."""

    def __init__(self, browser) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def foreign_requests(self) -> list[str]:
        """Requests that would leave the machine: anything but file: and loopback."""
        foreign = []
        for url in self.requests:
            parsed = urlparse(url)
            if parsed.scheme in ("file", "data", "about"):
                continue
            if parsed.hostname not in LOCAL_HOSTS:
                foreign.append(url)
        return foreign


def test_the_report_renders_its_plots_offline(browser, curated_run: Path) -> None:
    from goldpan.report import build_report
    from goldpan.report.page import Figure

    figures = sum(isinstance(b, Figure) for s in build_report(curated_run).sections
                  for b in s.blocks)
    watched = Watched(browser)
    page = watched.page
    page.goto((curated_run / "report.html").as_uri())
    charts = page.locator("svg.chart")
    assert charts.count() == figures >= 8
    for index in range(charts.count()):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 30
    # Bars and lines are drawn, and each bar carries its exact count as a tooltip.
    assert page.locator("svg.chart rect title").count() > 20
    assert page.locator("svg.chart polyline").count() >= 2
    for heading in ("Funnel", "Rejects", "Sources", "Distributions", "Duplicates", "Samples"):
        assert page.get_by_role("heading", name=heading).is_visible()
    page.get_by_role("link", name="Duplicates").click()
    assert page.url.endswith("#duplicates")
    assert watched.errors == []
    assert watched.requests and watched.foreign_requests() == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def inspector_url(curated_run: Path) -> Iterator[str]:
    with serving(curated_run) as url:
        yield url


@contextmanager
def serving(run_dir: Path) -> Iterator[str]:
    """The inspector of a run on a free local port, while the block runs."""
    import uvicorn

    from goldpan.report.inspector import create_app

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(run_dir), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the inspector did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_inspector_lists_filters_by_reason_and_opens_a_record(
    browser, inspector_url: str, curated_run: Path
) -> None:
    from goldpan.report.rundata import CurationRun

    run = CurationRun(curated_run)
    total = run.scalar("SELECT count(*) FROM records")
    reason, rejected = run.rows(
        "SELECT reject_reason, count(*) FROM rejected GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    )[0]
    run.close()

    watched = Watched(browser)
    page = watched.page
    page.goto(inspector_url + "/")
    assert page.locator("#summary").inner_text() == f"records 1–50 of {total:,}"
    assert page.locator("table.records tr.record").count() == 50

    # Choosing a reason submits the form; every row listed then has that reason.
    page.locator("select[name=reason]").select_option(reason)
    page.wait_for_url("**/?*reason=*")
    assert page.locator("#summary").inner_text().endswith(f"of {rejected:,}")
    cells = page.locator("table.records tr.record td:nth-child(5)").all_inner_texts()
    assert cells and set(cells) == {reason}

    # A record opens with all its columns; back returns to the filtered list.
    first = page.locator("a.record-link").first
    record_id = first.inner_text()
    first.click()
    page.wait_for_url("**/record?*")
    assert page.locator("#record-id").inner_text() == record_id
    assert reason in page.locator("table.fields").inner_text()
    assert page.locator("#record-text").inner_text().strip()
    page.get_by_role("link", name="← back to the list").click()
    page.wait_for_url("**/?*reason=*")

    # The huge document opens whole.
    page.goto(inspector_url + "/record?id=huge-0")
    assert len(page.locator("#record-text").inner_text()) >= 390_000
    assert watched.errors == []
    assert watched.foreign_requests() == []


def test_the_inspector_shows_conversations_by_turn_and_pairs_side_by_side(
    browser, chat_run: Path, preference_run: Path
) -> None:
    watched = Watched(browser)
    page = watched.page
    with serving(chat_run) as url:
        page.goto(url + "/?reason=chat_filter:roles")
        first = page.locator("a.record-link").first
        first.click()
        page.wait_for_url("**/record?*")
        turns = page.locator("#conversation li.turn")
        assert turns.count() >= 1
        roles = page.locator("#conversation li.turn .role").all_inner_texts()
        assert set(r.lower() for r in roles) <= {"system", "user", "assistant", "tool"}
        # Turns stack top to bottom in their order.
        boxes = [turns.nth(i).bounding_box() for i in range(min(turns.count(), 3))]
        assert all(a["y"] < b["y"] for a, b in itertools.pairwise(boxes))
    with serving(preference_run) as url:
        page.goto(url + "/record?id=conv")
        chosen = page.locator("section.side.chosen").bounding_box()
        rejected = page.locator("section.side.rejected").bounding_box()
        assert chosen and rejected
        assert chosen["x"] + chosen["width"] <= rejected["x"] + 1  # side by side
        assert abs(chosen["y"] - rejected["y"]) < 2
        assert "Water makes other things wet." in page.locator("#chosen").inner_text()
        assert "Who knows." in page.locator("#rejected").inner_text()
    assert watched.errors == []
    assert watched.foreign_requests() == []


def test_the_chat_report_shows_its_conversation_section(browser, chat_run: Path) -> None:
    watched = Watched(browser)
    page = watched.page
    page.goto((chat_run / "report.html").as_uri())
    assert page.get_by_role("heading", name="Conversations").is_visible()
    section = page.locator("#conversations")
    assert section.locator("svg.chart").count() == 2
    assert "chat_filter:roles" in section.inner_text()
    assert watched.errors == []
    assert watched.foreign_requests() == []
