"""``evol_instruct``: instructions evolved round by round, WizardLM's Evol-Instruct (Xu et al.
2023, "WizardLM: Empowering Large Language Models to Follow Complex Instructions", arXiv
2304.12244, section 3; reference prompts in nlpxucan/WizardLM, Evol_Instruct/depth.py and
breadth.py). Our wording, the paper's methods and rules.

Each round, every record's current instruction is rewritten by one evolution drawn with a seed
from its id and the round: in depth (``constraints``, ``deepen``, ``concretize``, ``reasoning``,
and ``complicate_input``, which the paper lists and the reference code leaves out) or in
breadth (``breadth``: a new, rarer instruction of the same domain). The model then answers the
evolved instruction, and the evolution is eliminated (section 3.3) when:

- ``no_gain``: the model, asked whether the two instructions are equal, says they are;
- ``apology``: the answer says "sorry" and is under 80 words;
- ``empty_answer``: the answer is only punctuation and stop words;
- ``copied_template``: the instruction repeats the evolving prompt's own words ("given
  prompt", "rewritten prompt", ...).

An eliminated evolution is dropped and the record goes on from its last good version (the
paper returns failed instructions to the pool); each elimination is counted by rule. The record
comes out as its last good instruction with the answer to it, ``parent_id`` (the record it
came from), ``evolution`` and ``evolution_round`` of that version, and every attempt in
``evolutions``.
"""

from __future__ import annotations

import random
import re
from functools import cached_property
from typing import Any, Literal, get_args

import pyarrow as pa
from pydantic import Field

from goldpan.data.chat_records import MESSAGES, conversations, transcripts, turns_array
from goldpan.data.schema import ID, TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import StepOptions, with_column, with_reject_reasons
from goldpan.generate.prompts import conversation_so_far
from goldpan.llm import GenerationParams
from goldpan.llm.step_llms import LlmStep, OneModelOptions

DEPTH_INTRO = """You rewrite prompts into harder versions of themselves, so that strong AI
assistants find them a little more difficult, while people can still understand and answer
them. Keep everything the prompt contains that is not plain text (tables, code) and keep its
input. Rewrite it in this way:
{method}
Add no more than 10 to 20 words. Do not use the words "given prompt" or "rewritten prompt" in
what you write.

Prompt:
{instruction}

Harder prompt:
"""
DEPTH_METHODS = {
    "constraints": "Add one more constraint or requirement.",
    "deepen": "Where the prompt asks about something, ask about it in more depth and breadth.",
    "concretize": "Replace general ideas with more specific ones.",
    "reasoning": "If the prompt can be answered with a little simple thinking, make it ask "
                 "explicitly for reasoning in several steps.",
    "complicate_input": "Make the input the prompt works on more complex (a longer table, more "
                        "code, more data), keeping the task the same.",
}
BREADTH_PROMPT = """You write new prompts inspired by an example prompt. Write a brand new
prompt in the same domain as the example, on something rarer, about as long and as complex as
the example, that people can understand and answer. Do not use the words "example prompt" or
"new prompt" in what you write.

Example prompt:
{instruction}

New prompt:
"""
EQUAL_PROMPT = """Are these two instructions to an AI assistant equal: the same constraints and
requirements, and the same depth and breadth of inquiry?

First instruction:
{first}

Second instruction:
{second}

Answer with exactly "Equal" or "Not Equal"."""
Evolution = Literal["constraints", "deepen", "concretize", "reasoning", "complicate_input",
                    "breadth"]
EVOLUTIONS: tuple[Evolution, ...] = get_args(Evolution)
assert (*DEPTH_METHODS, "breadth") == EVOLUTIONS
# Section 3.3's fourth rule: words of the evolving prompt that leaked into the instruction.
TEMPLATE_WORDS = ("given prompt", "rewritten prompt", "created prompt", "#the given prompt#",
                  "#rewritten prompt#", "harder prompt", "example prompt", "new prompt")
APOLOGY_WORDS = 80
# English function words (rule empty_answer: an answer of nothing else says nothing).
STOP_WORDS_EN = frozenset((
    "a", "an", "the", "and", "or", "but", "if", "then", "so", "of", "to", "in", "on", "at",
    "by", "for", "with", "from", "as", "is", "are", "was", "were", "be", "been", "being",
    "am", "do", "does", "did", "have", "has", "had", "i", "you", "he", "she", "it", "we",
    "they", "me", "him", "her", "us", "them", "my", "your", "his", "its", "our", "their",
    "this", "that", "these", "those", "there", "here", "what", "which", "who", "whom",
    "whose", "when", "where", "why", "how", "not", "no", "yes", "all", "any", "some", "can",
    "could", "will", "would", "shall", "should", "may", "might", "must", "just", "also",
    "very", "too", "than", "into", "out", "up", "down", "over", "about", "again",
))
ATTEMPT_TYPE = pa.list_(pa.struct([("round", pa.int32()), ("evolution", pa.string()),
                                   ("instruction", pa.large_string()),
                                   ("eliminated", pa.string())]))


class EvolInstructOptions(StepOptions, OneModelOptions):
    rounds: int = Field(4, ge=1, description="Evolution rounds (the paper: 4).")
    evolutions: list[Evolution] = Field(list(EVOLUTIONS), min_length=1,
                                        description=f"Drawn from: {', '.join(EVOLUTIONS)}.")
    max_new_tokens: int = Field(512, ge=1)
    equality_check: bool = Field(True, description="Ask the model whether the evolved "
                                 "instruction equals its parent (rule no_gain).")

def evolving_prompt(evolution: str, instruction: str) -> str:
    if evolution == "breadth":
        return BREADTH_PROMPT.format(instruction=instruction)
    return DEPTH_INTRO.format(method=DEPTH_METHODS[evolution], instruction=instruction)


def copied_template(instruction: str) -> bool:
    lowered = instruction.lower()
    return any(words in lowered for words in TEMPLATE_WORDS)


def apologetic(answer: str) -> bool:
    return "sorry" in answer.lower() and len(answer.split()) < APOLOGY_WORDS


def only_stop_words(answer: str) -> bool:
    words = re.findall(r"\w+", answer.lower())
    return all(word in STOP_WORDS_EN for word in words)


def says_equal(answer: str) -> bool:
    text = answer.strip().lower()
    return text.startswith("equal") or (" equal" in f" {text}" and "not equal" not in text)


@register_step
class EvolInstruct(LlmStep[EvolInstructOptions]):
    """Evolve each instruction in depth or breadth, round by round (WizardLM's Evol-Instruct)."""

    name = "evol_instruct"
    text_side = None
    record_kinds = ("chat",)

    def __init__(self, options: EvolInstructOptions | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        self.eliminated: dict[str, int] = {}

    @cached_property
    def judge_params(self) -> GenerationParams:
        return GenerationParams(temperature=0.0, max_new_tokens=8, seed=self.seed)

    def apply(self, batch: pa.Table, state: dict[str, str]) -> pa.Table:
        o = self.options
        llm = self.llms.get(o.llm, state["cache"])
        ids = batch.column(ID).to_pylist()
        chats = [conversation_so_far(c) for c in conversations(batch.column(MESSAGES))]
        reasons: list[str | None] = [None if c else self.reason("no_instruction") for c in chats]
        rows = [i for i, c in enumerate(chats) if c]
        current = {i: chats[i][-1]["content"] for i in rows}
        answers: dict[int, str] = {}
        good: dict[int, tuple[str, int]] = {i: ("original", 0) for i in rows}
        attempts: list[list[dict[str, Any]]] = [[] for _ in chats]
        for round_number in range(1, o.rounds + 1):
            drawn = {i: random.Random(f"{self.seed}:{ids[i]}:{round_number}").choice(
                o.evolutions) for i in rows}
            evolved = self.answers(llm, {i: evolving_prompt(drawn[i], current[i]) for i in rows},
                                   self.params, reasons)
            responses = self.answers(llm, {i: [*chats[i][:-1], {"role": "user",
                                                                 "content": text}]
                                           for i, text in evolved.items()}, self.params, reasons)
            equal = ({} if not o.equality_check else self.answers(
                llm, {i: EQUAL_PROMPT.format(first=current[i], second=evolved[i])
                      for i in responses}, self.judge_params, reasons))
            for i in responses:
                rule = self._elimination(evolved[i], responses[i], equal.get(i))
                attempts[i].append({"round": round_number, "evolution": drawn[i],
                                    "instruction": evolved[i], "eliminated": rule})
                if rule is None:
                    current[i], answers[i] = evolved[i], responses[i]
                    good[i] = (drawn[i], round_number)
                else:
                    self.eliminated[rule] = self.eliminated.get(rule, 0) + 1
            rows = [i for i in rows if reasons[i] is None]
        for i, turns in enumerate(chats):
            if i in answers:
                chats[i] = [*turns[:-1], {"role": "user", "content": current[i]},
                            {"role": "assistant", "content": answers[i]}]
            elif reasons[i] is None:
                reasons[i] = self.reason("never_evolved")
        batch = with_column(batch, MESSAGES, turns_array(chats))
        batch = with_column(batch, TEXT, transcripts(batch, "chat"))
        batch = with_column(batch, "parent_id", batch.column(ID))
        batch = with_column(batch, "evolution", pa.array(
            [good.get(i, (None, 0))[0] for i in range(len(chats))], pa.string()))
        batch = with_column(batch, "evolution_round", pa.array(
            [good.get(i, (None, 0))[1] for i in range(len(chats))], pa.int32()))
        batch = with_column(batch, "evolutions", pa.array(attempts, ATTEMPT_TYPE))
        return with_reject_reasons(batch, reasons)

    @staticmethod
    def _elimination(instruction: str, answer: str, equal_answer: str | None) -> str | None:
        if copied_template(instruction):
            return "copied_template"
        if equal_answer is not None and says_equal(equal_answer):
            return "no_gain"
        if apologetic(answer):
            return "apology"
        if only_stop_words(answer):
            return "empty_answer"
        return None

    def take_metrics(self) -> dict[str, float]:
        metrics = super().take_metrics()
        for rule, count in self.eliminated.items():
            metrics[f"eliminated_{rule}"] = float(count)
        self.eliminated = {}
        return metrics
