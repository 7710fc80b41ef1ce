"""A stand-in for the Hugging Face Hub on 127.0.0.1: the few routes huggingface_hub's
``HfFileSystem`` uses to list and read a dataset repository (repository info, tree listing,
paths-info, and file downloads with byte ranges), served from local folders.

Clients find it through ``HF_ENDPOINT`` (read by huggingface_hub when it is imported, so tests
run goldpan in a subprocess with that variable set and ``HF_HUB_OFFLINE=0``). Every request is
recorded, so a test can show that a read streamed byte ranges rather than downloading whole
files."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"
API = re.compile(
    r"^/api/datasets/([^/]+/[^/]+)(?:/(revision|tree|paths-info)/([^/]+)/?(.*))?$"
)
RESOLVE = re.compile(r"^/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


@dataclass
class HubRecord:
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, range


def _entry(root: Path, path: Path) -> dict:
    relative = path.relative_to(root).as_posix()
    if path.is_dir():
        return {"type": "directory", "oid": hashlib.sha1(relative.encode()).hexdigest(),
                "path": relative, "size": 0}
    return {"type": "file", "oid": hashlib.sha1(path.read_bytes()).hexdigest(),
            "size": path.stat().st_size, "path": relative}


def _handler(repos: dict[str, Path], record: HubRecord) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _json(self, payload: object, status: int = 200) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _missing(self, kind: str) -> None:
            body = json.dumps({"error": f"{kind} not found"}).encode()
            self.send_response(404)
            self.send_header("X-Error-Code", f"{kind}NotFound")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._serve(send_body=True)

        def do_HEAD(self) -> None:
            self._serve(send_body=False)

        def do_POST(self) -> None:
            url = urlparse(self.path)
            record.requests.append(("POST", url.path, None))
            match = API.match(url.path)
            if not match or match.group(2) != "paths-info" or match.group(1) not in repos:
                self._missing("Repo")
                return
            root = repos[match.group(1)]
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length).decode()
            if "json" in (self.headers.get("Content-Type") or ""):
                wanted = json.loads(raw).get("paths", [])
            else:
                wanted = parse_qs(raw).get("paths", [])
            found = [_entry(root, root / p) for p in wanted if (root / p).exists()]
            self._json(found)

        def _serve(self, send_body: bool) -> None:
            url = urlparse(self.path)
            record.requests.append((self.command, url.path, self.headers.get("Range")))
            api = API.match(url.path)
            if api:
                repo, route = api.group(1), api.group(2) or "revision"
                rest = unquote(api.group(4) or "")
                if repo not in repos:
                    self._missing("Repo")
                    return
                root = repos[repo]
                if route == "revision":
                    files = sorted(p for p in root.rglob("*") if p.is_file())
                    self._json({"id": repo, "sha": COMMIT, "private": False,
                                "siblings": [{"rfilename": p.relative_to(root).as_posix()}
                                             for p in files]})
                    return
                folder = root / rest if rest else root
                if not folder.is_dir():
                    self._missing("Entry")
                    return
                recursive = parse_qs(url.query).get("recursive", ["false"])[0] == "true"
                children = sorted(folder.rglob("*") if recursive else folder.iterdir())
                self._json([_entry(root, p) for p in children])
                return
            resolve = RESOLVE.match(url.path)
            if not resolve or resolve.group(1) not in repos:
                self._missing("Repo")
                return
            path = repos[resolve.group(1)] / unquote(resolve.group(3))
            if not path.is_file():
                self._missing("Entry")
                return
            data = path.read_bytes()
            start, end, status = 0, len(data) - 1, 200
            wanted = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
            if wanted:
                start = int(wanted.group(1))
                end = min(int(wanted.group(2)), end) if wanted.group(2) else end
                status = 206
            body = data[start:end + 1]
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
            self.send_header("X-Repo-Commit", COMMIT)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.end_headers()
            if send_body:
                self.wfile.write(body)

    return Handler


@contextmanager
def fake_hub(repos: dict[str, Path]) -> Iterator[tuple[str, HubRecord]]:
    """Serve each ``ORG/NAME`` dataset repository from its folder; yields the endpoint URL and
    the record of requests."""
    record = HubRecord()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(repos, record))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", record
    finally:
        server.shutdown()
        server.server_close()
