"""Self-Instruct (Wang et al. 2023, "Self-Instruct: Aligning Language Models with
Self-Generated Instructions"), as in the paper and its released code.

1. Bootstrap: each request shows the teacher 8 instructions from the pool (6 human-written
   seeds and 2 generated ones, once there are generated ones), numbered, after "Come up with a
   series of tasks:", and lets it continue the list.
2. Filter every new instruction as the original does: 4 to 150 words; none of the words
   image(s), graph(s), picture(s), file(s), map(s), draw, plot, "go to"; not starting with
   "Write a program"; not starting with punctuation or a non-ASCII character; and a ROUGE-L
   F-measure of at most 0.7 against every instruction already in the pool.
3. Identify classification tasks with a few-shot yes/no prompt.
4. Generate instances: output-first for classification tasks (a class label, then an input for
   it: otherwise the model writes inputs biased to one label), input-first otherwise.
5. Filter instances as the original does: input equal to output, empty output, input or output
   ending with a colon; a task whose instances give different outputs for the same input is
   dropped whole; exact repeats removed.

Every rejected instruction is written with its reason. Generation goes through ``goldpan.llm``,
so a rerun is served from the cache.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from goldpan.data.json_lines import read_json_lines, write_json_lines
from goldpan.errors import GoldpanError
from goldpan.llm import LLM, GenerationParams
from goldpan.synth.bootstrap import InstructionPool
from goldpan.synth.config import SelfInstructConfig
from goldpan.synth.filters import BLACKLIST, instruction_problem  # noqa: F401  (re-exported)
from goldpan.synth.records import SeedTask
from goldpan.synth.results import SelfInstructStats
from goldpan.train.method_run import MethodRun, Phase, Progress, file_stamp, run_key
from goldpan.util.atomic import atomic_write_text

BOOTSTRAP_HEADER = "Come up with a series of tasks:\n"
CLASSIFICATION_HEADER = (
    "Can the following task be regarded as a classification task with finite output labels?\n\n"
)
INPUT_FIRST_HEADER = (
    "Come up with examples for the following tasks. Try to generate multiple examples when "
    "possible. If the task doesn't require additional input, you can generate the output "
    "directly.\n\n"
)
OUTPUT_FIRST_HEADER = (
    "Given the classification task definition and the class labels, generate an input that "
    "corresponds to each of the class labels. If the task doesn't require input, just generate "
    "possible class labels.\n\n"
)


@dataclass
class Task:
    instruction: str
    is_classification: bool = False
    instances: list[dict[str, str]] = field(default_factory=list)
    round: int = 0
    request: int = 0
    prompt_instructions: list[str] = field(default_factory=list)
    most_similar_score: float = 0.0


# ---------------------------------------------------------------------------- seeds
def default_seed_path() -> Path:
    return Path(str(resources.files("goldpan.resources") / "self_instruct" / "seed_tasks.jsonl"))


def _seed_task(task: Any, number: int) -> SeedTask:
    if isinstance(task, dict) and "instances" not in task and "output" in task:
        # Alpaca's format (instruction, input, output; the paper's Alpaca-GPT4 seeds): one
        # instance.
        task = {"id": task.get("id", f"alpaca_{number}"), "instruction": task["instruction"],
                "instances": [{"input": str(task.get("input") or ""),
                               "output": str(task["output"])}],
                "is_classification": bool(task.get("is_classification", False)),
                "alpaca": True}
    if not isinstance(task["instruction"], str) or not isinstance(task["instances"], list):
        raise TypeError
    return SeedTask.from_json({**task, "id": task.get("id", f"seed_{number}")})


def load_seed_tasks(path: str | Path | None = None) -> list[SeedTask]:
    """Seed tasks in Self-Instruct's format (id, name, instruction, instances[{input, output}],
    is_classification) or Alpaca's (instruction, input, output), one JSON object a line."""
    path = Path(path) if path else default_seed_path()
    tasks = read_json_lines(
        path,
        "seed tasks",
        _seed_task,
        "a JSON object with instruction and instances[{input, output}] (Self-Instruct) or "
        "instruction and output (Alpaca)",
    )
    if not tasks:
        raise GoldpanError(f"seed tasks {path}: the file has no tasks")
    return tasks


# ---------------------------------------------------------------------------- bootstrap
def _label(index: int, numbering: str) -> str:
    return f"Task {index}:" if numbering == "task" else f"{index}."


def encode_prompt(instructions: list[str], numbering: str = "task") -> str:
    """The bootstrap prompt: the header, the numbered instructions, the next number open."""
    prompt = BOOTSTRAP_HEADER
    for index, instruction in enumerate(instructions, 1):
        instruction = re.sub(r"\s+", " ", instruction).strip().rstrip(":")
        prompt += f"{_label(index, numbering)} {instruction}\n"
    return prompt + _label(len(instructions) + 1, numbering)


def bootstrap_stops(numbering: str) -> tuple[str, ...]:
    """The original's stops ("\\n\\n" and item 16) for the chosen numbering."""
    if numbering == "task":
        return ("\n\n", "Task 16")
    return ("\n\n", "\n16", "16.", "16 .")


def parse_instructions(text: str, numbering: str, truncated: bool) -> list[str]:
    """The instructions in a continuation: the first completes the open item, the rest follow
    their own numbers. A continuation cut by the token limit loses its last, unfinished item."""
    pattern = r"\n\s*Task\s*\d+\s*:\s*" if numbering == "task" else r"\n\d+\s?\.\s*"
    pieces = re.split(pattern, text)
    pieces = [re.sub(r"\s+", " ", p).strip() for p in pieces]
    if truncated and len(pieces) > 1:
        pieces = pieces[:-1]
    return [p for p in pieces if p]


# ---------------------------------------------------------------------------- classification
def classification_prompt(seeds: list[SeedTask], instruction: str, shots: int = 12) -> str:
    """Few-shot yes/no: equal numbers of classification and other seed tasks as examples."""
    yes = [s for s in seeds if s.is_classification][: shots // 2]
    no = [s for s in seeds if not s.is_classification][: shots - len(yes)]
    examples = [item for pair in zip(yes, no, strict=False) for item in pair]
    prompt = CLASSIFICATION_HEADER
    for seed in examples:
        answer = "Yes" if seed.is_classification else "No"
        prompt += f"Task: {seed.instruction}\nIs it classification? {answer}\n\n"
    return prompt + f"Task: {instruction}\nIs it classification?"


def is_yes(text: str) -> bool:
    return text.strip().lower().startswith("yes")


# ---------------------------------------------------------------------------- instances
def _demonstration(seed: SeedTask, classification: bool) -> str:
    instance = seed.instances[0]
    given, output = instance.input.strip(), instance.output.strip()
    if classification:
        block = f"Task: {seed.instruction}\nClass label: {output}\n"
        return block + (f"Input: {given}\n" if given else "")
    block = f"Task: {seed.instruction}\nExample 1\n"
    return block + (f"Input: {given}\n" if given else "") + f"Output: {output}\n"


def instance_prompt(
    seeds: list[SeedTask], instruction: str, classification: bool, rng: random.Random, k: int
) -> str:
    """Output-first for classification tasks, input-first otherwise, with k seed examples."""
    same_kind = [s for s in seeds if s.is_classification == classification]
    shown = rng.sample(same_kind, min(k, len(same_kind)))
    header = OUTPUT_FIRST_HEADER if classification else INPUT_FIRST_HEADER
    body = "\n".join(_demonstration(s, classification) for s in shown)
    return f"{header}{body}\nTask: {instruction}\n" + ("Class label:" if classification else "")


def _clean(value: str) -> str:
    return value.strip()


def parse_instances(text: str, classification: bool) -> list[tuple[str, str]]:
    """(input, output) pairs from an instance generation (cut at the next "Task:")."""
    text = re.split(r"\n\s*Task\s*:", text)[0]
    pairs = []
    if classification:
        for block in re.split(r"Class label\s*:", "Class label:" + text)[1:]:
            label, _, rest = block.partition("\n")
            given = re.sub(r"^\s*Input\s*\d*\s*:", "", rest.strip()).strip()
            pairs.append((_clean(given), _clean(label)))
        return pairs
    blocks = [b for b in re.split(r"Example\s*\d+\s*:?", text) if b.strip()]
    for block in blocks or [text]:
        parts = re.split(r"Output\s*\d*\s*:", block)
        if len(parts) >= 2:
            given, output = parts[0], parts[1]
        else:
            given, output = "", parts[0]
        output = re.split(r"Input\s*\d*\s*:", output)[0]  # a second pair run on
        given = re.sub(r"^\s*Input\s*\d*\s*:", "", given.strip())
        pairs.append((_clean(given), _clean(output)))
    return pairs


def filter_instances(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The original's instance filters (prepare_for_finetuning.py)."""
    valid = [
        (given, output)
        for given, output in pairs
        if given != output and output and not given.endswith(":") and not output.endswith(":")
    ]
    outputs: dict[str, set[str]] = {}
    for given, output in valid:
        if given:
            outputs.setdefault(given, set()).add(output)
    if any(len(seen) > 1 for seen in outputs.values()):
        return []  # the same input with different outputs: the task is ambiguous
    return list(dict.fromkeys(valid))


# ---------------------------------------------------------------------------- the pipeline
STATE_FILE = "self_instruct_state.json"


@dataclass
class SelfInstructRun:
    """What the phases hand to each other; saved after each phase, so a rerun picks up there
    (with the random generator's state, so a resumed run draws what an uninterrupted one
    would)."""

    llm: LLM
    config: SelfInstructConfig
    out: Path
    report: Progress | None
    seeds: list[SeedTask]
    rng: random.Random
    tasks: list[Task] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    raw_count: int = 0
    loaded: bool = False

    def save(self) -> None:
        atomic_write_text(self.out / STATE_FILE, json.dumps({
            "tasks": [asdict(t) for t in self.tasks], "rejected": self.rejected,
            "reasons": dict(self.reasons), "raw_count": self.raw_count,
            "rng": _json_state(self.rng.getstate()),
        }))

    def load(self) -> None:
        if self.loaded:
            return
        saved = json.loads((self.out / STATE_FILE).read_text())
        self.tasks = [Task(**t) for t in saved["tasks"]]
        self.rejected, self.reasons = saved["rejected"], Counter(saved["reasons"])
        self.raw_count, self.loaded = saved["raw_count"], True
        self.rng.setstate(_python_state(saved["rng"]))

    def progress(self, phase: str, done: int, total: int) -> None:
        if self.report is not None:
            self.report(phase, done, total)


def _json_state(state: Any) -> Any:
    return [_json_state(v) for v in state] if isinstance(state, tuple) else state


def _python_state(state: Any) -> Any:
    return tuple(_python_state(v) for v in state) if isinstance(state, list) else state


def self_instruct(
    llm: LLM,
    config: SelfInstructConfig,
    out: str | Path,
    report: Progress | None = None,
) -> SelfInstructStats:
    """Generate ``config.n`` instructions with instances; write the outputs to ``out``. A
    rerun skips the phases already finished; its statistics count this run's requests."""
    started = time.perf_counter()
    out = Path(out)
    identity = getattr(llm.backend, "cache_identity", getattr(llm.backend, "model", ""))
    key = run_key(config=config.model_dump(mode="json"), teacher=str(identity),
                  seeds=file_stamp(config.seed_tasks))
    phases = [Phase("instructions", _bootstrap, SelfInstructRun.load),
              Phase("classification", _classify_phase, SelfInstructRun.load),
              Phase("instances", _instances_phase, SelfInstructRun.load)]
    run = SelfInstructRun(llm, config, out, report, load_seed_tasks(config.seed_tasks),
                          random.Random(config.seed))
    MethodRun(out, key, phases, save=SelfInstructRun.save).run(run)
    run.load()  # a rerun whose phases were all finished
    stats = _write_outputs(out, run.tasks, run.rejected, run.reasons, run.raw_count, config, llm)
    stats.seconds = round(time.perf_counter() - started, 2)
    atomic_write_text(out / "stats.json", stats.model_dump_json(indent=2))
    return stats


def _bootstrap(run: SelfInstructRun) -> None:
    """Rounds of prompts until ``n`` instructions pass the filters."""
    config = run.config
    pool = InstructionPool([s.instruction for s in run.seeds], config.rouge_threshold,
                           config.min_words, config.max_words)
    params = GenerationParams(
        temperature=config.temperature, top_p=config.top_p,
        presence_penalty=config.presence_penalty, max_new_tokens=config.max_new_tokens,
        stop=bootstrap_stops(config.numbering), seed=config.seed, chat=config.chat,
    )
    for round_number in range(config.max_rounds):
        if len(run.tasks) >= config.n:
            break
        chosen_sets = [
            pool.prompt_instructions(run.rng, config.prompt_instructions,
                                     config.machine_in_prompt)
            for _ in range(config.requests_per_round)
        ]
        prompts = [encode_prompt(chosen, config.numbering) for chosen in chosen_sets]
        for request, row in enumerate(run.llm.generate(prompts, params)):
            completion = row[0]
            truncated = completion.finish_reason == "length"
            for raw in parse_instructions(completion.text, config.numbering, truncated):
                run.raw_count += 1
                verdict = pool.judge(raw)
                if verdict.problem is not None:
                    continue
                if len(run.tasks) >= config.n:
                    pool.reasons["beyond_n"] += 1
                    continue
                pool.accept(verdict.instruction)
                run.tasks.append(Task(verdict.instruction, round=round_number, request=request,
                                      prompt_instructions=chosen_sets[request]))
        run.progress("instructions", len(run.tasks), config.n)
    run.rejected, run.reasons, run.loaded = pool.rejected, pool.reasons, True


def _classify_phase(run: SelfInstructRun) -> None:
    _identify_classification(run.llm, run.seeds, run.tasks, run.config)
    run.progress("classification", len(run.tasks), len(run.tasks))


def _instances_phase(run: SelfInstructRun) -> None:
    _generate_instances(run.llm, run.seeds, run.tasks, run.config, run.rng)
    run.progress("instances", len(run.tasks), len(run.tasks))


def _identify_classification(
    llm: LLM, seeds: list[SeedTask], tasks: list[Task], config: SelfInstructConfig
) -> None:
    params = GenerationParams(
        temperature=0.0, max_new_tokens=3, stop=("\n",), seed=config.seed, chat=config.chat
    )
    prompts = [classification_prompt(seeds, task.instruction) for task in tasks]
    for task, row in zip(tasks, llm.generate(prompts, params), strict=True):
        task.is_classification = is_yes(row[0].text)


def _generate_instances(
    llm: LLM,
    seeds: list[SeedTask],
    tasks: list[Task],
    config: SelfInstructConfig,
    rng: random.Random,
) -> None:
    params = GenerationParams(
        temperature=0.0,
        max_new_tokens=config.instance_max_new_tokens,
        stop=("\nTask:", "Task:"),
        seed=config.seed,
        chat=config.chat,
    )
    prompts = [
        instance_prompt(seeds, t.instruction, t.is_classification, rng, config.demonstrations)
        for t in tasks
    ]
    for task, row in zip(tasks, llm.generate(prompts, params), strict=True):
        pairs = filter_instances(parse_instances(row[0].text, task.is_classification))
        task.instances = [
            {"input": given, "output": output}
            for given, output in pairs[: config.instances_per_task]
        ]


def _write_outputs(
    out: Path,
    tasks: list[Task],
    rejected: list[dict[str, Any]],
    reasons: Counter[str],
    raw_count: int,
    config: SelfInstructConfig,
    llm: LLM,
) -> SelfInstructStats:
    write_json_lines(out / "tasks.jsonl", [asdict(t) for t in tasks])
    write_json_lines(out / "rejected_instructions.jsonl", rejected)
    alpaca = [
        {"instruction": t.instruction, "input": i["input"], "output": i["output"]}
        for t in tasks
        for i in t.instances
    ]
    write_json_lines(out / "alpaca.jsonl", alpaca)
    messages = [
        {
            "messages": [
                {
                    "role": "user",
                    "content": row["instruction"] + (f"\n\n{row['input']}" if row["input"] else ""),
                },
                {"role": "assistant", "content": row["output"]},
            ]
        }
        for row in alpaca
    ]
    write_json_lines(out / "messages.jsonl", messages)
    return SelfInstructStats(
        config=config.model_dump(mode="json"),
        instructions=len(tasks),
        classification_tasks=sum(t.is_classification for t in tasks),
        tasks_with_instances=sum(bool(t.instances) for t in tasks),
        instances=len(alpaca),
        raw_instructions=raw_count,
        rejected=dict(reasons),
        usage=llm.usage.to_json(),
    )
