"""The teacher's sampling through an OpenAI-compatible server (vLLM, llama.cpp, SGLang...).

Montessori-Instruct samples thousands of instructions per iteration from a teacher that changes
every iteration (DPO). transformers' ``generate`` is far slower than a serving engine, so the
teacher can be served instead: ``url`` names the server; ``command``, when given, is started on
each iteration's teacher weights (``{model_path}``: the original teacher's folder, then each
DPO-updated one) before its sampling and stopped after it, so the GPU is free again for the
student's influence probes and the DPO update. Without ``command`` the server is the user's
and serves only the original teacher; a run that updates the teacher is then refused
(``check_one_sampler``), since its DPO-updated teachers would have to be sampled in-process,
by another sampler than the Self-Instruct baseline's, which would confound the comparison.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from goldpan.errors import GoldpanError


@dataclass(frozen=True)
class TeacherServer:
    url: str  # the OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1
    model: str = "teacher"  # the model name the server answers to
    command: str | None = None  # e.g. "vllm serve {model_path} --served-model-name teacher"
    startup_seconds: float = 900.0

    @property
    def spec(self) -> str:
        """The ``llm`` spec of the served teacher."""
        return f"openai:{self.model}@{self.url}"

    def check_one_sampler(self, iterations: int) -> None:
        """Refuse a run whose two arms would come from different samplers: the Self-Instruct
        baseline (the original teacher's data) from this server, the Montessori data from the
        DPO-updated teachers, which only a ``command`` can serve."""
        if self.command is None and iterations > 0:
            raise GoldpanError(
                "--teacher-server without --serve-command serves only the original teacher, so "
                "the updated teachers would be sampled in-process by another sampler than the "
                "Self-Instruct baseline's: give --serve-command (goldpan then serves every "
                "iteration's weights the same way), or sample in-process without a server"
            )

    @contextmanager
    def running(self, model_path: Path, log: Path) -> Iterator[str]:
        """The server up on ``model_path`` (started by ``command`` when given) for the body of
        the ``with``; yields the ``llm`` spec to sample from."""
        if self.command is None:
            yield self.spec
            return
        arguments = shlex.split(self.command.format(model_path=str(model_path)))
        with log.open("ab") as output:
            try:
                process = subprocess.Popen(
                    arguments, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
                )
            except OSError as error:
                raise GoldpanError(f"--serve-command {arguments[0]!r}: {error.strerror}") from None
            try:
                self._wait_until_ready(process, log)
                yield self.spec
            finally:
                _stop(process)

    def _wait_until_ready(self, process: subprocess.Popen, log: Path) -> None:
        import httpx

        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise GoldpanError(
                    f"the teacher server exited with code {process.returncode} before it "
                    f"answered (its output: {log})"
                )
            try:
                if httpx.get(f"{self.url.rstrip('/')}/models", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        _stop(process)
        raise GoldpanError(
            f"the teacher server did not answer at {self.url} within {self.startup_seconds:.0f} s "
            f"(its output: {log})"
        )


def _stop(process: subprocess.Popen) -> None:
    """The server and everything it started, terminated (killed after 30 s)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass
