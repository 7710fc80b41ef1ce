"""Montessori-Instruct (Li, Yu and Xiong, ICLR 2025): teach the teacher to write the data its
student learns most from.

Per iteration: the teacher writes instructions as in Self-Instruct (8 in-context instructions,
6 seeds and 2 generated; temperature 1.0, top_p 0.9, 4 samples per prompt; ROUGE-L 0.7 novelty
filter) and a response to each (temperature 0.6); the student is warmed up on the first W
examples; every other example's local data influence on the student is measured
(``influence``); outputs of the same prompt with positive and negative influence become
preference pairs; the teacher is updated with DPO. After the last iteration the teacher writes
the final data, and two students trained on equal numbers of Self-Instruct examples (the
first iteration's, from the teacher before any update) and Montessori examples are compared by
reference-set loss and by a judge's pairwise win rate (both orders, to cancel position bias).
"""

from __future__ import annotations

import json
import random
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from goldpan.data.json_lines import json_object, read_json_lines, write_json_lines
from goldpan.errors import GoldpanError
from goldpan.llm import LLM, GenerationParams, make_llm
from goldpan.llm.params import Completion
from goldpan.models.load import weights_stamp
from goldpan.models.memory import release_memory
from goldpan.synth.bootstrap import InstructionPool
from goldpan.synth.config import MontessoriConfig
from goldpan.synth.influence import influences_across, momentum_influence, reference_gradient
from goldpan.synth.preferences import preference_pairs
from goldpan.synth.records import InfluencePair, InstructionExample, ScoredExample, SeedTask
from goldpan.synth.results import (
    Evaluation,
    IterationResult,
    MontessoriSummary,
    StudentResult,
)
from goldpan.synth.self_instruct import encode_prompt, load_seed_tasks
from goldpan.synth.serving import TeacherServer
from goldpan.synth.win_rate import judge_pairwise
from goldpan.train import (
    TrainConfig,
    Trainer,
    encode_example,
    example_losses,
    mean_loss,
    pad_id,
    phase_steps,
)
from goldpan.train.dpo import dpo_update
from goldpan.train.method_run import MethodRun, Phase, Progress, run_key
from goldpan.util.atomic import atomic_write_json, atomic_write_text

# ---------------------------------------------------------------------------- synthesis
_INSTRUCTION_TAG = re.compile(r"<instruction>(.*?)</instruction>", re.DOTALL)


def reference_prompt(instructions: list[str]) -> str:
    """The reference code's instruction prompt (src/prompt.py ``instruction_gen_prompt``, then
    each example as ``<instruction>...</instruction>``; gen_instructions.py ``make_prompt``),
    sent through the teacher's chat template."""
    header = (resources.files("goldpan.resources") / "montessori" / "instruction_prompt.txt")
    prompt = header.read_text(encoding="utf-8")
    return prompt + "".join(f"<instruction>{i}</instruction>\n" for i in instructions)


def tagged_instruction(text: str) -> str | None:
    """The last ``<instruction>...</instruction>`` of an answer (utils.py
    ``extract_instruction_from_raw``), or None when it has none."""
    found = _INSTRUCTION_TAG.findall(text)
    return found[-1].strip() if found else None


def instruction_params(config: MontessoriConfig) -> GenerationParams:
    """How the teacher is sampled for instructions (the reference's gen_instruction settings)."""
    tagged = config.prompt_format == "reference"
    return GenerationParams(
        n=config.samples_per_prompt,
        temperature=config.temperature,
        top_p=config.top_p,
        presence_penalty=config.presence_penalty,
        repetition_penalty=config.repetition_penalty,
        max_new_tokens=config.instruction_max_new_tokens,
        # Self-Instruct's numbered list ends an instruction at the line's end; the reference's
        # prompt asks for a reason first, then the tagged instruction, in a chat turn.
        stop=() if tagged else ("\n",),
        seed=config.seed,
        chat=tagged,
    )


def round_prompts(pool: InstructionPool, config: MontessoriConfig, rng: random.Random,
                   count: int, stats: dict[str, int] | None) -> list[str]:
    """One round's prompts; counts how many showed generated instructions."""
    shown = [pool.prompt_instructions(rng, config.prompt_instructions, config.machine_in_prompt)
             for _ in range(count)]
    pool.show([instruction for chosen in shown for instruction in chosen])
    if stats is not None:  # how many prompts showed generated instructions, per iteration
        generated = set(pool.machine)
        stats["prompts"] = stats.get("prompts", 0) + count
        stats["prompts_with_generated"] = stats.get("prompts_with_generated", 0) + sum(
            any(instruction in generated for instruction in chosen) for chosen in shown
        )
    tagged = config.prompt_format == "reference"
    return [(reference_prompt if tagged else encode_prompt)(chosen) for chosen in shown]


def _accepted(pool: InstructionPool, prompt: str, completion: Completion,
              tagged: bool) -> tuple[str, str, str] | None:
    """The record of one sampled instruction if it passes the filters (the pool learns it)."""
    text = completion.text
    if tagged:
        text = tagged_instruction(completion.text) or ""
        if not text and completion.finish_reason != "length":
            pool.reasons["no_instruction_tag"] += 1
            return None
    verdict = pool.judge(text, completion.finish_reason == "length")
    if verdict.problem is not None:
        return None
    pool.accept(verdict.instruction)
    return prompt, completion.text, verdict.instruction


def response_params(config: MontessoriConfig) -> GenerationParams:
    """How the teacher is sampled for responses (the reference's gen_responses settings)."""
    return GenerationParams(
        temperature=config.response_temperature,
        top_p=config.response_top_p,
        presence_penalty=config.presence_penalty,
        repetition_penalty=config.repetition_penalty,
        max_new_tokens=config.response_max_new_tokens,
        seed=config.seed,
        chat=True,
    )


def _with_responses(llm: LLM, accepted: list[tuple[str, str, str]],
                    config: MontessoriConfig) -> list[InstructionExample]:
    responses = llm.generate([instruction for _, _, instruction in accepted],
                             response_params(config))
    kept = []
    for (prompt, output, instruction), row in zip(accepted, responses, strict=True):
        response = row[0].text.strip()
        if response:
            kept.append(InstructionExample(instruction, response, prompt, output))
    return kept


def montessori_pool(seeds: list[SeedTask], config: MontessoriConfig) -> InstructionPool:
    """The bootstrap pool as configured: the seeds as the prompt shows them, the filters and
    the novelty check."""
    return InstructionPool([s.shown for s in seeds], config.rouge_threshold,
                           filters=config.instruction_filters, novelty=config.novelty_against)


def synthesize(
    llm: LLM,
    seeds: list[SeedTask],
    config: MontessoriConfig,
    rng: random.Random,
    stats: dict[str, int] | None = None,
    enough: int | None = None,
) -> list[InstructionExample]:
    """Instructions (one per sample, first line of the continuation), filtered as in
    Self-Instruct, each with the prompt that produced it, its raw output, and a response.
    Prompts are made in rounds of ``prompts_per_round``, the pool refreshed between rounds, so
    later prompts show generated instructions (the reference's batches). With ``enough``, no
    new round starts once that many instructions are accepted, and only that many get a
    response: the final data, of which the evaluation uses ``final_examples``."""
    pool = montessori_pool(seeds, config)
    accepted: list[tuple[str, str, str]] = []
    tagged = config.prompt_format == "reference"
    params = instruction_params(config)
    for start in range(0, config.prompts, config.prompts_per_round):
        if enough is not None and len(accepted) >= enough:
            break
        count = min(config.prompts_per_round, config.prompts - start)
        prompts = round_prompts(pool, config, rng, count, stats)
        for prompt, samples in zip(prompts, llm.generate(prompts, params), strict=True):
            for completion in samples:
                record = _accepted(pool, prompt, completion, tagged)
                if record is not None:
                    accepted.append(record)
    return _with_responses(llm, accepted[:enough], config)


# ---------------------------------------------------------------------------- students
def fresh_student(
    spec: str, config: MontessoriConfig, training: TrainConfig
):
    import torch

    from goldpan.models.load import load

    loaded = load(spec, config.student_dtype)
    torch.manual_seed(config.seed)
    training = training.model_copy(update={"seed": config.seed})
    trainer = Trainer(loaded.model, training, pad_id(loaded.tokenizer))
    return loaded, trainer


def encode_examples(tokenizer: Any, rows: list[InstructionExample], training: TrainConfig) -> list:
    return [
        encode_example(tokenizer, r.instruction, r.response, training.max_length,
                       training.loss_on_prompt)
        for r in rows
    ]


def _replicas(trainer: Trainer, config: MontessoriConfig) -> list[Trainer]:
    """Copies of the warmed-up student on every other visible GPU, when asked."""
    import torch

    if config.influence_devices != "all" or trainer.device.type != "cuda":
        return []
    others = [d for d in range(torch.cuda.device_count()) if d != trainer.device.index]
    return [trainer.replica(torch.device("cuda", d)) for d in others]


def measure_influence(
    student_spec: str,
    records: list[InstructionExample],
    reference: list[InstructionExample],
    config: MontessoriConfig,
    report: Progress | None = None,
) -> tuple[list[ScoredExample], float | None]:
    """Warm the student up on the first W records, then the local influence of every other.
    Probes without a response token are returned with ``influence`` None. Also the influence
    of the momentum alone (a zero-gradient step), the term every probe's step shares."""
    loaded, trainer = fresh_student(student_spec, config, config.student)
    trainer.on_step = phase_steps(report, "warm up the student")
    tokenizer = loaded.tokenizer
    warmup, probes = records[: config.warmup_examples], records[config.warmup_examples :]
    trainer.fit(encode_examples(tokenizer, warmup, config.student))
    # The probes step from the warmed-up state, clipped as the reference's probe loop is (not).
    trainer.config = trainer.config.model_copy(
        update={"max_grad_norm": config.probe_max_grad_norm}
    )
    trainer.on_step = None
    _probe_numerics(trainer, config)
    done = 0

    def on_done(count: int) -> None:
        nonlocal done
        done += count
        if report is not None:
            report("influence", done, len(probes))

    encoded_reference = encode_examples(tokenizer, reference, config.student)
    # L0 once: the momentum's influence and every probe's are measured from it.
    before = mean_loss(trainer.model, encoded_reference, trainer.pad) if probes else None
    gradient = (reference_gradient(trainer, encoded_reference)
                if probes and config.influence_estimate == "first_order" else None)
    momentum = (momentum_influence(trainer, encoded_reference, before=before, gradient=gradient)
                if probes else None)
    values = influences_across(
        [trainer, *_replicas(trainer, config)],
        encode_examples(tokenizer, probes, config.student),
        encoded_reference,
        on_done=on_done,
        method=config.influence_update,
        keep_on="cpu" if config.influence_copy_on == "cpu" else None,
        before=before,
        gradient=gradient,
    )
    del loaded, trainer
    release_memory()
    return [
        ScoredExample(record, None) if v is None
        else ScoredExample(record, v.value, v.before, v.after)
        for record, v in zip(probes, values, strict=True)
    ], momentum


def _probe_numerics(trainer: Trainer, config: MontessoriConfig) -> None:
    """The probes' arithmetic as configured: the reference's loss scale (g/8 on 8 GPUs) and
    dtype (pure bf16), applied to the warmed-up state."""
    import torch

    trainer.gradient_scale = config.probe_loss_scale
    wanted = getattr(torch, config.probe_dtype)
    if next(trainer.model.parameters()).dtype != wanted:
        trainer.cast(wanted)


def train_student(
    student_spec: str, rows: list[InstructionExample], config: MontessoriConfig, out: Path
) -> tuple[Path, Any, Any]:
    loaded, trainer = fresh_student(student_spec, config, config.final_student)
    trainer.fit(encode_examples(loaded.tokenizer, rows, config.final_student))
    loaded.model.save_pretrained(out)
    loaded.tokenizer.save_pretrained(out)
    return out, loaded.model, loaded.tokenizer


# ---------------------------------------------------------------------------- the loop
@contextmanager
def _teacher_llm(
    weights: Path, server: TeacherServer | None, cache: Path, folder: Path
) -> Iterator[LLM]:
    """This iteration's teacher: through the server when there is one (every iteration's:
    ``check_one_sampler``), else in-process from its weights (released afterwards)."""
    if server is not None:
        with server.running(weights, folder / "teacher-server.log") as spec:
            # The served name is the same every iteration: the cache keys the weights too.
            yield make_llm(spec, cache, weights=f"{weights}|{weights_stamp(weights)}")
        return
    yield make_llm(str(weights), cache)


@dataclass
class MontessoriRun:
    """What the phases of one Montessori run hand to each other."""

    teacher: str
    student: str
    reference: list[InstructionExample]
    config: MontessoriConfig
    out: Path
    judge: str
    progress: Progress | None
    held_out: list[InstructionExample] | None
    server: TeacherServer | None
    started: float
    teacher_folder: Path
    summary: MontessoriSummary
    self_instruct_data: list[InstructionExample] = field(default_factory=list)
    records: list[InstructionExample] = field(default_factory=list)  # the latest iteration's

    def folder(self, iteration: int) -> Path:
        return self.out / f"iteration-{iteration}"

    def save(self) -> None:
        atomic_write_text(self.out / "summary.json", self.summary.model_dump_json(indent=2))


def montessori_phases(config: MontessoriConfig) -> list[Phase[MontessoriRun]]:
    """Per iteration: the teacher writes data, the student's influence is measured, pairs
    update the teacher; then the final data and the evaluation."""
    phases: list[Phase[MontessoriRun]] = []
    for iteration in range(config.iterations):
        phases += [
            Phase(f"iteration-{iteration} data", _synthesis_phase(iteration),
                  _synthesis_loader(iteration)),
            Phase(f"iteration-{iteration} influence", _influence_phase(iteration),
                  _influence_loader(iteration)),
            Phase(f"iteration-{iteration} teacher", _teacher_phase(iteration),
                  _teacher_loader(iteration)),
        ]
    final = config.iterations
    return [*phases,
            Phase(f"iteration-{final} data", _synthesis_phase(final), _synthesis_loader(final)),
            Phase("evaluation", _evaluation_phase)]


def montessori(
    teacher: str,
    student: str,
    reference: list[InstructionExample],
    config: MontessoriConfig,
    out: str | Path,
    judge: str | None = None,
    report: Progress | None = None,
    held_out: list[InstructionExample] | None = None,
    server: TeacherServer | None = None,
    until: str | None = None,
) -> MontessoriSummary:
    """The loop, then the evaluation of two students on ``held_out`` (instruction/response
    pairs the teacher never saw; without them the students are compared on D_ref, the set the
    teacher was optimised against, which the evaluation says). With ``server`` the teacher's
    sampling goes through an OpenAI-compatible server (``synth.serving``). A rerun resumes
    from the last finished phase (``phases.json``)."""
    from goldpan.models.load import resolve

    if len(reference) < 1:
        raise GoldpanError("montessori: the reference set is empty")
    if server is not None:
        server.check_one_sampler(config.iterations)
    out = Path(out)
    reference = reference[: config.reference_examples]
    key = run_key(config=config.model_dump(mode="json"), teacher=teacher, student=student,
                  judge=judge or teacher, reference=reference, held_out=held_out or [],
                  server=None if server is None else server.spec)
    method = MethodRun(out, key, montessori_phases(config), save=MontessoriRun.save)
    method.check_until(until)
    run = MontessoriRun(teacher, student, reference, config, out, judge or teacher, report,
                        held_out, server, time.perf_counter(), resolve(teacher),
                        MontessoriSummary(config=config.model_dump(mode="json")))
    if method.done:
        run.summary = MontessoriSummary.model_validate_json((out / "summary.json").read_text())
    method.run(run, until)
    run.summary.teacher = str(run.teacher_folder)
    run.summary.seconds = round(time.perf_counter() - run.started, 1)
    run.save()
    return run.summary


def _synthesis_phase(iteration: int) -> Callable[[MontessoriRun], None]:
    def write_data(run: MontessoriRun) -> None:
        config, folder = run.config, run.folder(iteration)
        folder.mkdir(parents=True, exist_ok=True)
        stats: dict[str, int] = {}
        with _teacher_llm(run.teacher_folder, run.server, run.out / "llm-cache.sqlite",
                          folder) as llm:
            # The last iteration writes only the data the evaluation trains on.
            final = iteration == config.iterations and iteration > 0
            run.records = synthesize(
                llm, load_seed_tasks(config.seed_tasks), config,
                random.Random(config.seed + iteration), stats,
                enough=config.final_examples if final else None,
            )
        write_json_lines(folder / "synthetic.jsonl", [r.to_json() for r in run.records])
        atomic_write_json(folder / "prompts.json", stats)
        if iteration == 0:
            run.self_instruct_data = run.records
        if iteration == config.iterations:
            run.summary.final_data = len(run.records)
        if run.progress is not None:
            run.progress(f"data {iteration}", len(run.records), len(run.records))

    return write_data


def read_synthetic(folder: Path) -> list[InstructionExample]:
    """An iteration folder's synthetic data (synthetic.jsonl), as its data phase wrote it."""
    return read_json_lines(
        folder / "synthetic.jsonl", "synthetic data",
        lambda row, line: InstructionExample.from_json(json_object(row, line)),
        "an instruction and its response")


def _synthesis_loader(iteration: int) -> Callable[[MontessoriRun], None]:
    def read_data(run: MontessoriRun) -> None:
        run.records = read_synthetic(run.folder(iteration))
        if iteration == 0:
            run.self_instruct_data = run.records

    return read_data


def _influence_phase(iteration: int) -> Callable[[MontessoriRun], None]:
    def measure(run: MontessoriRun) -> None:
        folder = run.folder(iteration)
        scored, momentum = measure_influence(run.student, run.records, run.reference,
                                             run.config, run.progress)
        write_json_lines(folder / "influence.jsonl", [r.to_json() for r in scored])
        atomic_write_json(folder / "momentum.json", {"momentum_influence": momentum})

    return measure


def _influence_loader(iteration: int) -> Callable[[MontessoriRun], None]:
    def nothing_to_hold(run: MontessoriRun) -> None:
        """The teacher phase reads influence.jsonl itself."""

    return nothing_to_hold


def _teacher_phase(iteration: int) -> Callable[[MontessoriRun], None]:
    def update_teacher(run: MontessoriRun) -> None:
        folder = run.folder(iteration)
        scored = read_json_lines(folder / "influence.jsonl", "influence",
                                 lambda row, line: ScoredExample.from_json(json_object(row, line)),
                                 "a scored example")
        momentum = json.loads((folder / "momentum.json").read_text())["momentum_influence"]
        pairs = preference_pairs(scored)
        write_json_lines(folder / "preferences.jsonl", [pair.to_json() for pair in pairs])
        stats = json.loads((folder / "prompts.json").read_text())
        entry = _iteration_result(iteration, len(run.records), stats, scored, momentum, pairs)
        shutil.rmtree(folder / "teacher", ignore_errors=True)  # a stale one from a changed run
        if pairs:
            result = dpo_update(run.teacher_folder, pairs, folder / "teacher", run.config.dpo)
            entry.dpo_loss = [e["loss"] for e in result["log"] if "loss" in e]
        _teacher_loader(iteration)(run)
        run.summary.iterations = [e for e in run.summary.iterations
                                  if e.iteration != iteration] + [entry]

    return update_teacher


def _teacher_loader(iteration: int) -> Callable[[MontessoriRun], None]:
    def updated_teacher(run: MontessoriRun) -> None:
        updated = run.folder(iteration) / "teacher"
        if (updated / "config.json").is_file():
            run.teacher_folder = updated

    return updated_teacher


def _iteration_result(iteration: int, synthetic: int, stats: dict[str, int],
                      scored: list[ScoredExample], momentum: float | None,
                      pairs: list[InfluencePair]) -> IterationResult:
    measured = [r.influence for r in scored if r.influence is not None]
    return IterationResult(
        iteration=iteration,
        synthetic=synthetic,
        prompts=stats.get("prompts", 0),
        prompts_with_generated=stats.get("prompts_with_generated", 0),
        probes=len(scored),
        positive=sum(value > 0 for value in measured),
        negative=sum(value < 0 for value in measured),
        skipped_no_response_tokens=len(scored) - len(measured),
        momentum_influence=momentum,
        above_momentum=None if momentum is None else sum(v > momentum for v in measured),
        pairs=len(pairs),
        reference_loss_after_warmup=next(
            (r.reference_loss_before for r in scored if r.influence is not None), None
        ),
    )


def _evaluation_phase(run: MontessoriRun) -> None:
    run.summary.evaluation = evaluate(
        run.student, run.self_instruct_data, run.records, run.reference, run.config, run.out,
        run.judge, run.progress, run.held_out,
    )


def _student_result(
    student: str, rows: list[InstructionExample], config: MontessoriConfig, folder: Path,
    reference: list[InstructionExample], held_out: list[InstructionExample],
    instructions: list[str],
) -> tuple[StudentResult, list[str]]:
    """A student trained on ``rows``: its losses, and its greedy answers to ``instructions``."""
    folder, model, tokenizer = train_student(student, rows, config, folder)
    pad = pad_id(tokenizer)
    training = config.final_student
    per_example = example_losses(model, encode_examples(tokenizer, held_out, training), pad)
    result = StudentResult(
        reference_loss=mean_loss(model, encode_examples(tokenizer, reference, training), pad),
        held_out_loss=(sum(s for s, _ in per_example) / max(1, sum(c for _, c in per_example))
                       if held_out else None),
        held_out_example_losses=[s / c if c else None for s, c in per_example],
    )
    answer = GenerationParams(temperature=0.0, max_new_tokens=config.response_max_new_tokens)
    del model  # the student answers from its saved folder; one copy in memory is enough
    answers = [row[0].text.strip() for row in make_llm(str(folder)).generate(instructions, answer)]
    release_memory()
    return result, answers


def _example_key(example: InstructionExample) -> str:
    import hashlib

    text = f"{example.instruction}\x00{example.response}".encode()
    return hashlib.sha1(text).hexdigest()[:16]


def evaluate(
    student: str,
    self_instruct_data: list[InstructionExample],
    montessori_data: list[InstructionExample],
    reference: list[InstructionExample],
    config: MontessoriConfig,
    out: Path,
    judge: str,
    report: Progress | None = None,
    held_out: list[InstructionExample] | None = None,
) -> Evaluation:
    """Two students on equal numbers of examples: their loss on the held-out set, their loss on
    D_ref (a diagnostic: the teacher was optimised against it), and the judged win rate, raw
    and length-controlled, on held-out instructions."""
    count = min(config.final_examples, len(self_instruct_data), len(montessori_data))
    if count == 0:
        return Evaluation(examples=0, note="no data to compare")
    held_out = (held_out or [])[: config.held_out_examples]
    result = Evaluation(examples=count, held_out=len(held_out),
                        held_out_keys=[_example_key(r) for r in held_out])
    if not held_out:
        result.note = ("no held-out set: the judged instructions come from D_ref, the set the "
                       "teacher was optimised against")
    answers: dict[str, list[str]] = {}
    instructions = [r.instruction for r in (held_out or reference)[: config.judge_examples]]
    for name, rows in (("self_instruct", self_instruct_data), ("montessori", montessori_data)):
        result.students[name], answers[name] = _student_result(
            student, rows[:count], config, out / "students" / name, reference, held_out,
            instructions,
        )
        if report is not None:
            report(f"student {name}", 1, 1)
    judged = judge_pairwise(
        make_llm(judge, out / "llm-cache.sqlite"),
        instructions,
        answers["montessori"],
        answers["self_instruct"],
    )
    result.montessori_vs_self_instruct = judged
    write_json_lines(
        out / "judged_answers.jsonl",
        [
            {"instruction": i, "montessori": m, "self_instruct": s}
            for i, m, s in zip(
                instructions, answers["montessori"], answers["self_instruct"], strict=True
            )
        ],
    )
    return result
