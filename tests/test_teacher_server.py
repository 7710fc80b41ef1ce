"""The Montessori teacher sampled through a server that goldpan starts on each iteration's
weights and stops after its sampling."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx
import pytest

from goldpan.errors import GoldpanError
from goldpan.llm import GenerationParams, make_llm
from goldpan.synth.serving import TeacherServer

FAKE = Path(__file__).parent / "fake_teacher_server.py"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_command_serves_each_teachers_weights_and_is_stopped_after(tmp_path: Path) -> None:
    port, record = _free_port(), tmp_path / "started.txt"
    url = f"http://127.0.0.1:{port}/v1"
    server = TeacherServer(url, command=f"{sys.executable} {FAKE} {port} {{model_path}} {record}")
    for weights in (tmp_path / "teacher", tmp_path / "iteration-0" / "teacher"):
        with server.running(weights, tmp_path / "server.log") as spec:
            answer = make_llm(spec, None).generate(["Write one instruction."], GenerationParams())
            assert answer[0][0].text == f"served by {weights}"
        with pytest.raises(httpx.HTTPError):  # stopped: nothing answers any more
            httpx.get(f"{url}/models", timeout=2)
    assert record.read_text().split() == [str(tmp_path / "teacher"),
                                          str(tmp_path / "iteration-0" / "teacher")]
    server.check_one_sampler(iterations=2)  # it serves every iteration's teacher


def test_a_users_own_server_cannot_sample_the_updated_teachers_so_such_a_run_is_refused(
    tmp_path: Path,
) -> None:
    """One sampler for both arms (issue 32): the user's server serves the original teacher
    only, so the updated teachers would be sampled in-process, another sampler than the
    Self-Instruct baseline's. A run that updates the teacher is refused in one line before any
    work; one without updates (the Self-Instruct data alone) is not."""
    from goldpan.synth.config import MontessoriConfig
    from goldpan.synth.montessori import montessori
    from goldpan.synth.records import InstructionExample

    server = TeacherServer("http://127.0.0.1:1/v1")
    assert server.spec == "openai:teacher@http://127.0.0.1:1/v1"
    server.check_one_sampler(iterations=0)
    with pytest.raises(GoldpanError, match="without --serve-command serves only the original") \
            as refused:
        montessori("teacher", "student", [InstructionExample("Hi.", "Hello.")],
                   MontessoriConfig.small(iterations=1), tmp_path / "run", server=server)
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "run").exists()


def test_a_server_that_dies_at_start_is_one_clear_error(tmp_path: Path) -> None:
    server = TeacherServer(f"http://127.0.0.1:{_free_port()}/v1",
                           command=f"{sys.executable} -c 'raise SystemExit(3)'")
    with (pytest.raises(GoldpanError, match="exited with code 3 before it answered"),
          server.running(tmp_path, tmp_path / "server.log")):
        pass
    missing = TeacherServer("http://127.0.0.1:1/v1", command="/no/such/engine {model_path}")
    with (pytest.raises(GoldpanError, match="--serve-command '/no/such/engine'"),
          missing.running(tmp_path, tmp_path / "server.log")):
        pass


def test_each_iterations_served_teacher_has_its_own_cache_identity(tmp_path: Path) -> None:
    """The bug of issue 32: the served name was the whole cache identity, so an instruction
    asked again in a later iteration got the earlier teacher's answer. The identity now holds
    the weights served (their folder and files), so a DPO-updated teacher is asked anew."""
    from goldpan.synth.montessori import _teacher_llm
    from goldpan.synth.serving import TeacherServer

    server = TeacherServer("http://127.0.0.1:9/v1")  # the user's own server: not started here
    first, second = tmp_path / "iteration-0", tmp_path / "iteration-1"
    for folder, content in ((first, b"w0"), (second, b"w1-updated")):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(content)
    identities = []
    for weights in (first, first, second):
        with _teacher_llm(weights, server, tmp_path / "cache.sqlite", tmp_path) as llm:
            identities.append(llm.backend.cache_identity)
    assert identities[0] == identities[1] != identities[2]
    assert all(identity.startswith("teacher|") for identity in identities)
