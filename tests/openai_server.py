"""A scripted OpenAI-compatible server on 127.0.0.1 for tests: each request's answer comes
from the test's script (a reply, garbage, an error, or a delay), and every request is recorded."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Reply = tuple[int, object]  # (status, JSON payload or raw bytes)


def ok(text: str, prompt_tokens: int = 7, completion_tokens: int = 3) -> Reply:
    return 200, {
        "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
    }


class FakeServer:
    """An OpenAI-compatible endpoint on 127.0.0.1 whose answers a test scripts: ``script``
    maps the n-th request (0-based) to a reply, a callable, or ("sleep", seconds, reply)."""

    def __init__(self, script: Callable[[int, dict], object]) -> None:
        self.script = script
        self.requests: list[dict] = []
        self.paths: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = json.loads(handler.rfile.read(int(handler.headers["Content-Length"])))
        with self.lock:
            number = len(self.requests)
            self.requests.append(body)
            self.paths.append(handler.path)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            reply = self.script(number, body)
            if isinstance(reply, tuple) and reply[0] == "sleep":
                time.sleep(reply[1])
                reply = reply[2]
            status, payload = reply  # type: ignore[misc]
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            try:
                handler.send_response(status)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(data)))
                handler.end_headers()
                handler.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up on a slow answer
        finally:
            with self.lock:
                self.in_flight -= 1


@contextmanager
def serve(script: Callable[[int, dict], object]) -> Iterator[tuple[FakeServer, str]]:
    fake = FakeServer(script)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            fake.handle(self)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        # A burst of new connections (a client opening dozens at once) must queue, not be
        # reset: the standard library's backlog of 5 would drop some.
        request_queue_size = 256

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def kill_run_after(recipe: str, server: FakeServer, requests: int, timeout: float = 120) -> int:
    """Start ``goldpan run RECIPE`` in its own process group, SIGKILL it once the server has
    seen ``requests`` requests, and return how many it had seen by then."""
    import os
    import signal
    import subprocess
    import sys

    command = [sys.executable, "-m", "goldpan", "run", recipe, "--quiet"]
    started = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True, env=os.environ.copy())
    deadline = time.monotonic() + timeout
    while len(server.requests) < requests and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(started.pid, signal.SIGKILL)
    started.wait()
    return len(server.requests)
