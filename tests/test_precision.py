"""dtype auto: bfloat16 only where the hardware computes it natively, float32 elsewhere."""

from __future__ import annotations

import pytest

from goldpan.models import precision


@pytest.fixture
def cpu_with(monkeypatch: pytest.MonkeyPatch):
    def set_flags(*flags: str) -> None:
        monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))

    return set_flags


@pytest.mark.parametrize(("flags", "expected"), [
    (("avx2", "avx512f"), "float32"),  # AVX-512 without its bf16 extension emulates bf16: slow
    (("avx2",), "float32"),
    (("avx2", "avx512f", "avx512_bf16"), "bfloat16"),
    (("amx_tile", "amx_bf16"), "bfloat16"),
    (("fp", "asimd", "bf16"), "bfloat16"),  # Arm's BF16 extension
])
def test_auto_is_bfloat16_only_on_cpus_with_native_bf16(cpu_with, flags, expected) -> None:
    cpu_with(*flags)
    assert precision.resolve_dtype("auto", "cpu") == expected


def test_an_explicit_dtype_is_kept_whatever_the_cpu(cpu_with) -> None:
    cpu_with("avx2")
    assert precision.resolve_dtype("bfloat16", "cpu") == "bfloat16"
    assert precision.resolve_dtype("float32", "cpu") == "float32"
    with pytest.raises(ValueError, match="unknown dtype 'fp8'"):
        precision.resolve_dtype("fp8", "cpu")


def test_the_cpu_flags_are_read_from_this_machine() -> None:
    precision.cpu_flags.cache_clear()
    line = precision.cpu_features_line()
    assert "cores" in line
    assert precision.cpu_has_native_bf16() == any(
        flag in precision.cpu_flags() for flag in ("avx512_bf16", "amx_bf16", "bf16"))


def test_model_steps_default_to_auto() -> None:
    from goldpan.curate.dedup.semantic import SemanticDedup
    from goldpan.llm.step_llms import LlmCallOptions
    from goldpan.llm.transformers_backend import TransformersBackend
    from goldpan.score.classify import Classify
    from goldpan.score.lm import LmScore

    assert LmScore.Options().dtype == "auto"
    assert Classify.Options(models=[{"path": "m.bin"}]).dtype == "auto"
    assert SemanticDedup.Options().dtype == "auto"
    assert LlmCallOptions().dtype == "auto"
    assert TransformersBackend("smollm2-135m-instruct").dtype == "auto"


def test_a_model_loaded_with_auto_runs_in_the_resolved_dtype(cpu_with, tiny_lm) -> None:
    import torch

    from goldpan.models.load import load

    cpu_with("avx2")
    assert load(str(tiny_lm), "auto", "cpu").model.dtype == torch.float32
    cpu_with("avx512_bf16")
    assert load(str(tiny_lm), "auto", "cpu").model.dtype == torch.bfloat16
