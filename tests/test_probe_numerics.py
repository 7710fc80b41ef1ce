"""The probe step's arithmetic compared on one warmed-up student (issue 32, point 6): the
baseline agrees with itself, bf16 leaves most weights where they were, and the first-order
estimate ranks probes as the exact influence does."""

from __future__ import annotations

from pathlib import Path

import pytest

from goldpan.experiments.probe_numerics import BASELINE, probe_numerics, probe_numerics_table
from goldpan.synth.config import MontessoriConfig
from goldpan.synth.records import InstructionExample
from goldpan.util.atomic import atomic_write_text
from tests.montessori_child import EXAMPLES, REFERENCE_PAIRS


def test_the_variants_are_measured_against_fp32_with_the_plain_gradient(
    tiny_lm: Path, tmp_path: Path
) -> None:
    import json

    run = tmp_path / "run"
    rows = [InstructionExample(i, r, prompt=f"prompt {n % 2}")
            for n, (i, r) in enumerate(EXAMPLES)]
    (run / "iteration-0").mkdir(parents=True)
    atomic_write_text(run / "iteration-0" / "synthetic.jsonl",
                      "".join(json.dumps(r.to_json()) + "\n" for r in rows))
    config = MontessoriConfig.build("small", warmup_examples=3,
                                    student={"learning_rate": 5e-6, "max_length": 128})
    reference = [InstructionExample(i, r) for i, r in REFERENCE_PAIRS]
    result = probe_numerics(run, str(tiny_lm), config, reference, 8, tmp_path / "out")
    variants = {v.name: v for v in result.variants}
    assert result.probes == len(EXAMPLES) - 3
    baseline = variants[BASELINE]
    assert baseline.sign_agreement == 1.0 and baseline.pairs_shared in (None, 1.0)
    assert baseline.within_prompt_kendall_tau == pytest.approx(1.0)
    first_order = variants["fp32, g, first order"]
    assert first_order.sign_agreement >= 0.75
    assert variants["bf16, g"].unchanged_weights > baseline.unchanged_weights + 0.3
    assert variants["fp32, g/8"].influences != baseline.influences
    assert (tmp_path / "out" / "probe_numerics.json").is_file()
    assert "| bf16, g/8 (reference) |" in probe_numerics_table(result)
