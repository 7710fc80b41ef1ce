"""Montessori-Instruct's seeds and instruction filters as its reference code has them
(issue 32, points 4 and 7): Alpaca tasks shown with their input, novelty checked against the
instructions shown in the round, post_process's character limits, capitalisation and
<input> tags, and the appendix's repetition penalty as an option."""

from __future__ import annotations

import json
import random
from pathlib import Path

from goldpan.synth.bootstrap import InstructionPool
from goldpan.synth.config import MontessoriConfig
from goldpan.synth.montessori import (
    instruction_params,
    montessori_pool,
    response_params,
    round_prompts,
)
from goldpan.synth.self_instruct import load_seed_tasks


def _alpaca_seeds(tmp_path: Path) -> Path:
    path = tmp_path / "alpaca.jsonl"
    rows = [{"instruction": "Classify the sentiment of this review.",
             "input": "The food was cold.", "output": "Negative"},
            {"instruction": "Name three primary colours.", "input": "", "output": "Red..."}]
    rows += [{"instruction": f"Describe the town number {i} in one line.", "input": "",
              "output": "A town."} for i in range(10)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_alpaca_seeds_are_shown_with_their_input_joined(tmp_path: Path) -> None:
    """gen_instructions.py make_prompt: instruction + " " + input when the input is not empty."""
    seeds = load_seed_tasks(_alpaca_seeds(tmp_path))
    assert seeds[0].shown == "Classify the sentiment of this review. The food was cold."
    assert seeds[1].shown == "Name three primary colours."
    config = MontessoriConfig.build("paper", prompt_instructions=12)
    prompts = round_prompts(montessori_pool(seeds, config), config, random.Random(0), 1, None)
    assert "<instruction>Classify the sentiment of this review. The food was cold." \
           "</instruction>" in prompts[0]
    # Self-Instruct's own seeds show the instruction alone: their instances are examples.
    assert all(task.shown == task.instruction for task in load_seed_tasks())


def test_novelty_is_checked_against_the_instructions_shown_not_every_seed() -> None:
    seeds = ["Write a haiku about the sea in winter.", "List five uses of baking soda at home."]
    shown = InstructionPool(seeds, novelty="shown")
    shown.show([seeds[0]])
    # Close to a seed the round did not show: novel for the reference.
    assert shown.judge("List five uses of baking soda in the home.").problem is None
    close = shown.judge("Write a haiku about the sea in the winter.")
    assert (close.problem, close.similar_to) == ("too_similar", seeds[0])
    shown.accept("Explain how tides are caused by the moon.")
    assert shown.judge("Explain how tides are caused by the moon and sun.").problem \
        == "too_similar"  # generated instructions always count
    every = InstructionPool(seeds, novelty="all")  # Self-Instruct's, and goldpan's earlier
    assert every.judge("List five uses of baking soda in the home.").problem == "too_similar"
    assert MontessoriConfig().novelty_against == "shown"


def test_the_reference_filters_count_characters_capitalize_and_drop_input_tags() -> None:
    pool = InstructionPool([], filters="reference", novelty="shown")
    assert pool.judge("  summarise   the  NASA report <input>x</input>").instruction \
        == "Summarise the nasa reportx"  # str.capitalize lowercases the rest, as post_process
    assert pool.judge("Hi yo").problem == "too_short"  # 5 characters
    assert pool.judge("Say hi").problem is None  # 6 characters, 2 words: the words rule is not
    assert pool.judge("a" * 401).problem == "too_long"
    assert pool.judge("Draw the water cycle.").problem == "unsuitable_keyword"
    assert pool.judge("Write a program that sorts a list.").problem is None  # not a rule here
    assert pool.judge("¿Qué hora es ahora?").problem == "starts_non_ascii"
    self_instruct = InstructionPool([])
    assert self_instruct.judge("Say hi").problem == "too_short"  # 4 words at least
    assert MontessoriConfig().instruction_filters == "reference"
    assert MontessoriConfig.small().instruction_filters == "self_instruct"


def test_the_appendix_repetition_penalty_is_an_option() -> None:
    assert instruction_params(MontessoriConfig()).repetition_penalty == 1.0  # the code's
    config = MontessoriConfig.build("paper", ["repetition_penalty=1.5"])
    assert instruction_params(config).repetition_penalty == 1.5
    assert response_params(config).repetition_penalty == 1.5
