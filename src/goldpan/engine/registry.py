"""Steps registered by name, so recipes can name them and ``goldpan steps`` can list them."""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import ValidationError

from goldpan.engine.step import GlobalStep, Step
from goldpan.errors import GoldpanError
from goldpan.util.validation import format_validation_error, key_path

_REGISTRY: dict[str, type[Step]] = {}

# goldpan's own steps: importing these packages registers them (each package's __init__ imports
# its step modules). Named as strings: the engine sits below them and never imports them itself.
STEP_PACKAGES = ("goldpan.curate", "goldpan.score", "goldpan.generate")
# Installed plugins declare their step modules in this entry-point group of their package
# metadata: [project.entry-points."goldpan.steps"] my_steps = "my_package.steps".
ENTRY_POINT_GROUP = "goldpan.steps"


def _load_entry_points() -> None:
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.value.split(":")[0] in STEP_PACKAGES:
            continue
        try:
            entry.load()
        except Exception as error:  # a broken plugin names itself instead of a traceback
            raise GoldpanError(
                f"step plugin {entry.name!r} ({entry.value}) failed to load: "
                f"{type(error).__name__}: {error}"
            ) from None


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
    """Every step: goldpan's own, then those of installed plugins."""
    for package in STEP_PACKAGES:
        importlib.import_module(package)
    _load_entry_points()
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
