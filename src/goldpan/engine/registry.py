"""Steps registered by name, so recipes can name them and ``goldpan steps`` can list them."""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import ValidationError

from goldpan.engine.step import GlobalStep, Step
from goldpan.errors import GoldpanError
from goldpan.util.validation import format_validation_error, key_path

_REGISTRY: dict[str, type[Step]] = {}

# Modules whose import registers steps. Heavy libraries are imported inside the steps.
_STEP_MODULES = (
    "goldpan.curate.length",
    "goldpan.curate.sample",
    "goldpan.curate.dedup.exact",
    "goldpan.curate.dedup.minhash",
    "goldpan.curate.dedup.lines",
    "goldpan.curate.dedup.semantic",
    "goldpan.curate.decontaminate",
    "goldpan.score.lm",
    "goldpan.score.reverse",
    "goldpan.score.select",
    "goldpan.score.mix",
    "goldpan.score.quality",
    "goldpan.curate.normalize",
    "goldpan.curate.langid",
    "goldpan.curate.pii",
    "goldpan.curate.heuristics.gopher_quality",
    "goldpan.curate.heuristics.gopher_repetition",
    "goldpan.curate.heuristics.c4",
    "goldpan.curate.heuristics.fineweb",
)


def load_plugins(modules: list[str], origin: str = "recipe") -> None:
    """Import the recipe's plugin modules, whose ``@register_step`` classes become steps."""
    for index, module in enumerate(modules):
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise GoldpanError(
                f"{origin}: plugins[{index}]: cannot import {module!r}: {error}"
            ) from None


def register_step(cls: type[Step]) -> type[Step]:
    """Class decorator: make a step available to recipes under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"two steps are registered as {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def registered_steps() -> dict[str, type[Step]]:
    for module in _STEP_MODULES:
        importlib.import_module(module)
    return dict(sorted(_REGISTRY.items()))


def step_kind(cls: type[Step]) -> str:
    return "global" if issubclass(cls, GlobalStep) else "map"


def build_step(
    config: Any, origin: str = "recipe", where: tuple = ("steps", 0), seed: int = 0
) -> Step:
    """A step instance from its recipe entry, with option errors naming the key path."""
    steps = registered_steps()
    location = key_path(where)
    if config.name not in steps:
        known = ", ".join(steps)
        raise GoldpanError(
            f"{origin}: {location}.name: unknown step {config.name!r} (known: {known})"
        )
    cls = steps[config.name]
    try:
        options = cls.Options.model_validate(config.options())
    except ValidationError as error:
        raise GoldpanError(format_validation_error(origin, error, prefix=where)) from None
    return cls(options, seed=seed)
