"""Global steps' states are stored as tagged JSON, never pickle (a run directory may be in a
shared bucket): every kind of value the steps keep comes back as the same type."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from goldpan.engine.state_codec import decode_state, encode_state


@pytest.mark.parametrize("state", [
    None,
    {2**63 + 5: "doc-1", 7: "doc-2"},                       # exact_dedup: hash -> keeper
    {"doc-3": ("doc-1", True), "doc-4": ("doc-1", False)},  # minhash_dedup
    {12345678901234567890: ("doc-9", 3)},                   # line_dedup
    (0.25, 0.75),                                           # select: (key, tiebreak)
    {"wiki": (math.inf, 2, 0.5), "news": (-1.0, 1, -1.0)},  # mix: per group cut-offs
    {"t": ["not", "a", "tag"], "m": {1, 2}},                # keys that look like the tags
    "s3://bucket/run/stages/03-quality_classifier/_work/quality.ftz",
])
def test_every_state_the_steps_keep_comes_back_as_it_was(state: object) -> None:
    assert decode_state(encode_state(state)) == state
    assert type(decode_state(encode_state(state))) is type(state)


def test_numpy_scalars_become_numbers_and_other_objects_are_refused() -> None:
    assert decode_state(encode_state({"cut": np.float64(0.5), "n": np.int64(3)})) == {
        "cut": 0.5, "n": 3}
    with pytest.raises(TypeError, match="cannot hold ndarray"):
        encode_state({"vectors": np.zeros(3)})


def test_a_run_with_global_steps_leaves_no_pickle(corpus: Path, tmp_path: Path) -> None:
    from tests.conftest import run_steps_on

    run = tmp_path / "run"
    run_steps_on(corpus, run, [{"name": "exact_dedup"}, {"name": "minhash_dedup"},
                               {"name": "line_dedup"}])
    states = sorted(run.glob("stages/*/_state.json"))
    assert len(states) == 3
    for path in run.rglob("*"):
        if path.is_file():
            assert not path.read_bytes().startswith(b"\x80"), f"{path} is a pickle"
