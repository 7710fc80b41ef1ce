"""The two kinds of step and the contract they keep with the engine.

A step sees whole ``pyarrow.Table`` batches, so its hot path can be vectorised. To drop a row
it does not delete it: it returns the batch with a ``reject_reason`` column (null keeps the
row), optionally with further ``reject_*`` columns (``reject_duplicate_of``). The engine splits
kept rows from rejects, so no step can lose a record silently.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Generic, Literal, TypeVar, get_args, get_origin

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from goldpan.data.schema import REJECT_REASON, TEXT, TEXT_TYPE
from goldpan.util.storage import AnyPath

# The turns of a conversation a step can read (engine/views.py builds them): chat records take
# the first six, preference records all, prompt, chosen and rejected.
ViewName = Literal["all", "user", "assistant", "system", "last_user", "last_assistant",
                   "prompt", "chosen", "rejected"]
# Which side of a conversation a step reads unless told: the prompt (user turns, a preference's
# prompt), the answers (assistant turns, the chosen answer) or all of it.
TextSide = Literal["prompt", "answer", "all"]


class StepOptions(BaseModel):
    """Base for a step's options: unknown keys are errors, so a typo never silently does nothing.
    ``on`` is the engine's, not the step's: which turns of a conversation the step reads."""

    model_config = ConfigDict(extra="forbid")

    on: ViewName | None = Field(
        None,
        description="chat and preference records: the turns this step reads (chat: all, user, "
        "assistant, system, last_user, last_assistant; preference: all, prompt, chosen, "
        "rejected); none: the step's default side.",
    )


OptionsT = TypeVar("OptionsT", bound=StepOptions)


class Step(ABC, Generic[OptionsT]):
    """Common face of every step. A subclass sets ``name`` and names its options class as the
    type argument (``class LengthFilter(MapStep[LengthOptions])``): ``self.options`` is then
    of that type, and ``Options`` (what recipes are validated against) is taken from it."""

    name: ClassVar[str]
    Options: ClassVar[type[StepOptions]] = StepOptions
    # What the step reads of a conversation when its recipe entry has no ``on:``; None hands it
    # whole records (a step about conversations themselves, like chat_filter).
    text_side: ClassVar[TextSide | None] = "all"
    # True for steps that change ``text``: on conversations they see one row per turn, so each
    # rewritten text goes back into its turn.
    rewrites_text: ClassVar[bool] = False
    # The kinds of record (input.kind) the step can work on.
    record_kinds: ClassVar[tuple[str, ...]] = ("text", "chat", "preference")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if get_origin(base) is None:
                continue
            for argument in get_args(base):
                if isinstance(argument, type) and issubclass(argument, StepOptions):
                    cls.Options = argument

    def __init__(self, options: OptionsT | None = None, seed: int = 0) -> None:
        self.options: OptionsT = options if options is not None else self._default_options()
        self.seed = seed
        # The run directory's folder for what outlives a stage (an LLM's answers), set by the
        # planner; not part of the step's config, so it never changes a stage's key.
        self.cache_dir: AnyPath | None = None

    def _default_options(self) -> OptionsT:
        return self.Options()  # type: ignore[return-value]  # Options is OptionsT's class

    def __getstate__(self) -> dict[str, Any]:
        """What travels to a worker: the options, not what a ``cached_property`` loaded (a
        model, a block list, a child process), which the worker loads again when it needs it."""
        state = dict(self.__dict__)
        for klass in type(self).__mro__:
            for name, member in vars(klass).items():
                if isinstance(member, cached_property):
                    state.pop(name, None)
        return state

    def reason(self, rule: str) -> str:
        """The reject vocabulary: ``step:rule``, counted by the stats and shown in the report."""
        return f"{self.name}:{rule}"

    def score_columns(self) -> tuple[str, ...]:
        """The numeric columns this step adds that grade quality (a loss, S, a classifier's
        probability): the run summarises them per source in stats.json and the report."""
        return ()

    def take_metrics(self) -> dict[str, float]:
        """What the step counted since the last call besides records (an LLM's requests,
        tokens and cost): summed over parts into the stage's statistics."""
        return {}

    def config(self) -> dict[str, Any]:
        options = self.options.model_dump(mode="json")
        if options.get("on") is None:  # absent, so that stage keys of text runs stay as they were
            options.pop("on", None)
        return {"name": self.name, "seed": self.seed, **options}


class MapStep(Step[OptionsT]):
    """Decides about each record on its own; pure and picklable."""

    @abstractmethod
    def process(self, batch: pa.Table) -> pa.Table:
        """Return the batch, changed or with new columns, and ``reject_reason`` for drops."""


@dataclass(frozen=True)
class FitContext:
    """What a global step's fit phase may use of the run directory: a folder of its own for
    what is too big to travel as a summary (signatures, embeddings, a trained classifier). The
    engine owns the run directory's layout; steps name their files through this."""

    workdir: AnyPath  # a Path, or a UPath when the run directory is a URL
    # The run directory's folder for what outlives a stage's key: caches of expensive calls
    # (an LLM's answers) that a rerun with changed options should still reuse.
    cache_dir: AnyPath | None = None

    def lasting_file(self, name: str) -> AnyPath:
        """A file in the run's cache folder (the stage's work folder when there is none)."""
        return (self.cache_dir if self.cache_dir is not None else self.workdir) / name

    def part_file(self, part_index: int, suffix: str) -> AnyPath:
        """The file of one part's fit output, ``suffix`` included (``.npy``, ``.parquet``)."""
        return self.workdir / f"part-{part_index:05d}{suffix}"

    def file(self, name: str) -> AnyPath:
        return self.workdir / name


class GlobalStep(Step[OptionsT]):
    """Needs the whole dataset before it decides (dedup, budgets, trained scorers).

    ``fit_part`` summarises one part (in parallel, on any executor), ``merge`` joins the
    summaries in part order into a small state, and ``apply`` is a map phase using that state.
    Both fit methods receive the ``FitContext`` of the stage, whose folder holds what is too big
    to travel as a summary: fit phases write there per part and ``merge`` reads it back piece
    by piece.
    """

    # False for steps whose fit needs no corpus data (a classifier trained on example files):
    # the engine then calls merge([]) without reading any part.
    fit_reads_data: ClassVar[bool] = True

    @abstractmethod
    def fit_part(self, batch: pa.Table, part_index: int, context: FitContext) -> Any:
        """A small, picklable summary of one part."""

    @abstractmethod
    def merge(self, summaries: Sequence[Any], context: FitContext) -> Any:
        """Join the summaries (given in part order) into the state ``apply`` needs."""

    @abstractmethod
    def apply(self, batch: pa.Table, state: Any) -> pa.Table:
        """Like ``MapStep.process``, with the merged state."""


def with_column(
    batch: pa.Table, name: str | pa.Field, values: pa.Array | pa.ChunkedArray
) -> pa.Table:
    """The batch with column ``name`` replaced by ``values``, or added when it has none (a
    field, to give the column metadata)."""
    key = name.name if isinstance(name, pa.Field) else name
    if key in batch.column_names:
        return batch.set_column(batch.schema.get_field_index(key), name, values)
    return batch.append_column(name, values)


def with_texts(batch: pa.Table, texts: Sequence[str | None]) -> pa.Table:
    """The batch with its text column replaced (cleaners, redaction, span cutting)."""
    return with_column(batch, TEXT, pa.array(texts, TEXT_TYPE))


def with_reject_reasons(batch: pa.Table, reasons: Sequence[str | None] | pa.Array) -> pa.Table:
    """Attach the per-row reasons (None keeps the row) in the column the engine reads."""
    array = reasons if isinstance(reasons, pa.Array) else pa.array(reasons, type=pa.string())
    if REJECT_REASON in batch.column_names:
        # An earlier reason (from the same step) wins; fill only the rows still kept.
        existing = batch.column(REJECT_REASON).combine_chunks()
        array = pc.coalesce(existing, array)
    return with_column(batch, REJECT_REASON, array)
