"""A Montessori run on tiny models with a scripted teacher, as its own process, so a test can
SIGKILL it in the middle of a phase and run it again.

    python -m tests.montessori_child OUT MODEL [KILL_MARKER]

With KILL_MARKER, the run writes that file as soon as the first probe's influence is measured
and then waits to be killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

EXAMPLES = [
    ("Name a primary colour.", "Red is a primary colour."),
    ("What is two plus two?", "Two plus two is four."),
    ("Give a synonym for happy.", "Glad is a synonym for happy."),
    ("Translate 'cat' into French.", "The French word is chat."),
    ("Name a planet.", "Mars is a planet."),
    ("What colour is the sky?", "The sky is blue on a clear day."),
]
REFERENCE_PAIRS = [
    ("Name a fruit.", "An apple is a fruit."),
    ("What is three plus one?", "Three plus one is four."),
]
HELD_OUT_PAIRS = [
    ("Name a vegetable.", "A carrot is a vegetable."),
    ("What is one plus one?", "One plus one is two."),
]


def examples(pairs: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    from goldpan.synth.records import InstructionExample

    return [InstructionExample(instruction, response) for instruction, response in pairs]


def scripted_synthesis(llm, seeds, config, rng, stats=None, enough=None):  # type: ignore[no-untyped-def]
    """The teacher's sampling replaced by fixed outputs (a random tiny teacher writes nothing
    that passes Self-Instruct's filters); the teacher is still loaded, as real sampling does."""
    from goldpan.synth.records import InstructionExample

    llm.backend._loaded()
    rows: list[InstructionExample] = []
    for k, (instruction, response) in enumerate(EXAMPLES * 2):
        prompt = f"Come up with a series of tasks:\nTask 1: {seeds[k % 3].instruction}\nTask 2:"
        rows.append(InstructionExample(instruction, response, prompt, f" {instruction} ({k})"))
    return rows[:enough]


class ScriptedTeacher:
    """Stand-in teacher: every instruction sample is a new, novel instruction (the second
    sample of each prompt stops at the length limit); every response is a short answer."""

    WORDS = (
        "amber", "basalt", "cedar", "dune", "ember", "fjord", "garnet", "harbor", "iris",
        "juniper", "kelp", "lagoon", "meadow", "nectar", "orchid", "pebble", "quartz", "reef",
        "saffron", "tundra", "umber", "valley", "willow", "yarrow", "zephyr", "acorn", "birch",
        "cobalt", "delta", "estuary", "fern", "glacier", "heather", "inlet", "jade", "knoll",
        "lichen", "marsh", "nutmeg", "olive", "prairie", "quince", "ridge", "sorrel", "thistle",
    )

    def __init__(self) -> None:
        self.instruction_prompts: list[str] = []
        self.count = 0

    def generate(self, prompts, params):  # type: ignore[no-untyped-def]
        import random

        from goldpan.llm.params import Completion

        if params.chat and params.n == 1:  # responses
            return [[Completion("A short answer.")] for _ in prompts]
        self.instruction_prompts += prompts
        rows = []
        for prompt in prompts:
            row = []
            for sample in range(params.n):
                self.count += 1
                words = random.Random(self.count).sample(self.WORDS, 6)
                text = " ".join(words).capitalize() + f" {self.count}"
                if "<instruction>" in prompt:  # the reference's format: a reason, then the tag
                    text = f"It tests nature words.\n<instruction>{text}</instruction>"
                    if sample == 2:
                        text = "I will not use the format."
                row.append(Completion(text, finish_reason="length" if sample == 1 else "stop"))
            rows.append(row)
        return rows


def small_config():  # type: ignore[no-untyped-def]
    from goldpan.synth.config import MontessoriConfig

    return MontessoriConfig.small(
        warmup_examples=3, final_examples=4, judge_examples=2, response_max_new_tokens=8,
        student={"max_length": 64, "learning_rate": 1e-3},
    )


def main(out: str, model: str, marker: str | None = None) -> None:
    from goldpan.synth import montessori as module

    module.synthesize = scripted_synthesis

    def progress(phase: str, done: int, total: int, /, **figures: str) -> None:
        if marker and phase == "influence" and 0 < done < total:
            Path(marker).write_text(f"{done}/{total}\n")
            time.sleep(600)  # killed here, in the middle of the probes

    module.montessori(model, model, examples(REFERENCE_PAIRS), small_config(), out,
                      report=progress, held_out=examples(HELD_OUT_PAIRS))


if __name__ == "__main__":
    main(*sys.argv[1:])
