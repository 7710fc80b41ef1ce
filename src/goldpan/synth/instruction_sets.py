"""The instruction/response sets Montessori-Instruct measures against: D_ref (the reference set
the teacher is optimised towards), the held-out set the evaluated students are compared on,
and a second reference set for the mechanism experiment, disjoint from both.

A set is a seeded shuffled draw, never a file's first rows: the reference draws D_ref with
``eval_dataset.shuffle(seed=42).select(range(eval_nums))`` (collect_local_data_influence.py),
and HF datasets' shuffle is numpy's ``default_rng(seed).permutation``, reproduced here, so the
same file and seed give the reference's D_ref. Without a file the sets come from the packaged
ShareGPT first turns after the 2,000 the demo uses, split from one permutation so that no two
sets share an example.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from goldpan.synth.records import InstructionExample

ReferenceFilter = Literal["none", "short"]
T = TypeVar("T")

DEMO_TURNS = 2000  # the demo's conversations: never in an evaluation set
SHORT_INSTRUCTION, SHORT_RESPONSE = 500, 1500  # the "short" filter, in characters


def seeded_draw(rows: Sequence[T], seed: int) -> list[T]:
    """``rows`` in the order of HF datasets' ``shuffle(seed=seed)``."""
    import numpy as np

    return [rows[int(i)] for i in np.random.default_rng(seed).permutation(len(rows))]


def _example(row: Mapping[str, Any], number: int) -> InstructionExample:
    """An instruction with its response, in goldpan's layout (``response``) or Alpaca-Eval's
    and Alpaca's (``output``)."""
    answer = row["response"] if "response" in row else row["output"]
    return InstructionExample(str(row["instruction"]), str(answer))


def read_instruction_rows(path: Path, option: str) -> list[InstructionExample]:
    """Every instruction/response pair of a JSONL file (``option`` names it in errors)."""
    from goldpan.data.json_lines import read_json_lines

    return read_json_lines(path, option, _example,
                           "JSON with instruction and response (or output, Alpaca-Eval's layout)")


def sharegpt_pool(reference_filter: ReferenceFilter = "none") -> list[InstructionExample]:
    """The packaged ShareGPT first turns after the demo's; ``short`` keeps instructions under
    500 and responses under 1,500 characters, which makes "helpful" mean "short" to a teacher
    optimised against them (goldpan's earlier default; ``none`` takes every turn)."""
    from goldpan.data.demo_corpus import first_turns

    rows = []
    for index, turn in enumerate(first_turns()):
        if index < DEMO_TURNS:
            continue
        short = (len(turn["instruction"]) < SHORT_INSTRUCTION
                 and len(turn["response"]) < SHORT_RESPONSE)
        if reference_filter == "none" or short:
            rows.append(InstructionExample(turn["instruction"], turn["response"]))
    return rows


def disjoint_sets(rows: Sequence[T], sizes: Sequence[int], seed: int) -> list[list[T]]:
    """Consecutive slices of one seeded draw of ``rows``, one per size: sets that share no
    row. A set may come out shorter than asked when ``rows`` runs out."""
    drawn = seeded_draw(rows, seed)
    sets, start = [], 0
    for size in sizes:
        sets.append(drawn[start : start + size])
        start += size
    return sets


def montessori_sets(
    reference: Path | None,
    held_out: Path | None,
    reference_examples: int,
    held_out_examples: int,
    seed: int = 42,
    reference_filter: ReferenceFilter = "none",
) -> tuple[list[InstructionExample], list[InstructionExample]]:
    """D_ref and the held-out set: seeded draws of the files given, the rest from ShareGPT
    (one draw, so the two never share an example)."""
    pool = sharegpt_pool(reference_filter) if reference is None or held_out is None else []
    packaged_ref, packaged_held = disjoint_sets(
        pool, [0 if reference else reference_examples, 0 if held_out else held_out_examples],
        seed)
    d_ref = (seeded_draw(read_instruction_rows(reference, "--reference"), seed)
             [:reference_examples] if reference else packaged_ref)
    evaluation = (seeded_draw(read_instruction_rows(held_out, "--held-out"), seed)
                  [:held_out_examples] if held_out else packaged_held)
    return d_ref, evaluation
