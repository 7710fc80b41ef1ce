"""HTML extraction in a child process that can be killed: one pathological page (deep nesting,
a parser that loops in C) must not stall a worker. A signal cannot interrupt C code, so the
extractor runs in its own process (as datatrove's extractors do), fed a batch at a time and
answering page by page; a page that takes longer than the limit gets ``timeout``, the child is
killed, and a fresh one takes the rest of the batch.

The child is ``python -m goldpan.curate.html.sandbox`` (a fresh interpreter: nothing of the
worker's threads or state is inherited); messages are length-prefixed pickles over its pipes.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
from collections.abc import Sequence
from typing import IO, Any

from goldpan.curate.html.extractors import ExtractSettings, extract
from goldpan.errors import GoldpanError

_HEADER = struct.Struct("<Q")
STARTUP_SECONDS = 120.0  # importing the extractor in a fresh interpreter on a busy machine

Outcome = tuple[str, str]  # ("ok", text) | ("timeout", "") | ("error", message)


def _send(stream: IO[bytes], value: Any) -> None:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    message = memoryview(_HEADER.pack(len(payload)) + payload)
    while message:  # raw pipes may take a message in several writes
        written = stream.write(message)
        message = message[written or 0:]
    stream.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = b""
    while len(data) < size:
        block = stream.read(size - len(data))
        if not block:
            raise EOFError("the extraction process closed its output")
        data += block
    return data


def _receive(stream: IO[bytes]) -> Any:
    (size,) = _HEADER.unpack(_read_exactly(stream, _HEADER.size))
    return pickle.loads(_read_exactly(stream, size))


class ExtractionSandbox:
    """A child process that extracts pages with fixed settings, restarted after a timeout."""

    def __init__(self, settings: ExtractSettings, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout
        self._child: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(
            [sys.executable, "-m", "goldpan.curate.html.sandbox"],
            # Unbuffered: select() must see every byte the child wrote, none hidden in a buffer.
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        assert child.stdin is not None and child.stdout is not None
        _send(child.stdin, self.settings.as_dict())
        if not self._ready(child.stdout, STARTUP_SECONDS):
            child.kill()
            raise GoldpanError("extract_html: the extraction process did not start")
        _receive(child.stdout)  # "ready": the extractor is imported
        return child

    @staticmethod
    def _ready(stream: IO[bytes], seconds: float) -> bool:
        return bool(select.select([stream], [], [], seconds)[0])

    def close(self) -> None:
        if self._child is not None:
            self._child.kill()
            self._child.wait()
            self._child = None

    def __del__(self) -> None:
        self.close()

    def extract_all(self, pages: Sequence[str]) -> list[Outcome]:
        """One outcome per page, in order."""
        outcomes: list[Outcome] = []
        while len(outcomes) < len(pages):
            if self._child is None:
                self._child = self._start()
            child = self._child
            assert child.stdin is not None and child.stdout is not None
            rest = list(pages[len(outcomes):])
            _send(child.stdin, rest)
            for _ in rest:
                if not self._ready(child.stdout, self.timeout):
                    outcomes.append(("timeout", ""))
                    self.close()
                    break
                try:
                    outcomes.append(_receive(child.stdout))
                except EOFError:  # the child died on this page (a crash in C code)
                    outcomes.append(("error", "the extraction process died"))
                    self.close()
                    break
        return outcomes


def _serve() -> None:
    source = sys.stdin.buffer
    # The answers get a private copy of stdout; anything a library prints goes to stderr.
    sink = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    settings = ExtractSettings(**_receive(source))
    extract("<html><body><p>warm up</p></body></html>", settings)  # import the extractor now
    _send(sink, "ready")
    while True:
        try:
            pages = _receive(source)
        except EOFError:
            return
        for page in pages:
            try:
                _send(sink, ("ok", extract(page, settings)))
            except Exception as error:  # an extractor bug on one page: that page's reason
                _send(sink, ("error", f"{type(error).__name__}: {error}"[:200]))


if __name__ == "__main__":
    _serve()
