"""Make the README's pictures of a run's report and inspector, in headless Debian chromium.

    python docs/screenshots.py runs/demo            # writes docs/report.png, docs/inspector.png
"""

from __future__ import annotations

import argparse
import shutil
import socket
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()

    import uvicorn
    from playwright.sync_api import sync_playwright

    from goldpan.report import write_report
    from goldpan.report.inspector import create_app

    report = write_report(args.run_dir)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(args.run_dir), port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(report.resolve().as_uri())
        page.screenshot(path=str(args.out / "report.png"))
        page.goto(f"http://127.0.0.1:{port}/?status=rejected&reason=c4_quality:too_few_sentences")
        page.screenshot(path=str(args.out / "inspector.png"))
        browser.close()
    server.should_exit = True
    thread.join(timeout=10)
    print(f"wrote {args.out / 'report.png'} and {args.out / 'inspector.png'}")


if __name__ == "__main__":
    main()
