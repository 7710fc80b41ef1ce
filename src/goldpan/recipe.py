"""YAML recipe -> validated configuration.

Every error names the key path and what was expected, e.g.
``demo.yaml: steps[1].min_words: Input should be a valid integer, got 'many'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from goldpan.data.config import InputConfig, InputFormat, OutputConfig, OutputFormat
from goldpan.engine.config import Recipe, StepConfig
from goldpan.engine.registry import build_step, load_plugins
from goldpan.errors import GoldpanError
from goldpan.util.config_hash import config_hash
from goldpan.util.overrides import apply_overrides
from goldpan.util.validation import format_validation_error
from goldpan.util.yaml_1_2 import load_yaml

# Re-exported: these lived here before the layers were split, and users import them from here.
__all__ = [
    "InputConfig",
    "InputFormat",
    "OutputConfig",
    "OutputFormat",
    "Recipe",
    "StepConfig",
    "apply_overrides",
    "config_hash",
    "format_validation_error",
    "load_recipe",
    "parse_recipe",
]


def parse_recipe(data: Any, origin: str = "recipe") -> Recipe:
    if not isinstance(data, dict):
        raise GoldpanError(f"{origin}: expected a mapping with input, output and steps")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as error:
        raise GoldpanError(format_validation_error(origin, error)) from None
    load_plugins(recipe.plugins, origin)
    if recipe.output.format == "tokens" and not (recipe.steps and recipe.steps[-1].name ==
                                                 "tokenize"):
        # Tokens are made on the workers, part by part, as the run's last stage.
        chat = recipe.input.kind == "chat"
        recipe.steps.append(StepConfig(
            name="tokenize", tokenizer=recipe.output.tokenizer, append_eos=recipe.output.append_eos,
            **({"chat_template": recipe.output.chat_template, "mask": recipe.output.mask}
               if chat else {}),
            **({"max_tokens": recipe.output.pack.max_tokens} if recipe.output.pack else {}),
        ))
    for index, step in enumerate(recipe.steps):
        build_step(step, origin=origin, where=("steps", index))
    return recipe


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise GoldpanError(f"{path}: no such recipe file")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first_line = str(error).strip().splitlines()[0]
        raise GoldpanError(f"{path}: not valid YAML: {first_line}") from None
    if isinstance(data, dict):
        apply_overrides(data, overrides or [])
    return parse_recipe(data, origin=path.name)


