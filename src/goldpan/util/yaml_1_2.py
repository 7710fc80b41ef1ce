"""YAML as recipes mean it: only ``true`` and ``false`` are booleans.

PyYAML follows YAML 1.1, where ``on``, ``off``, ``yes`` and ``no`` are booleans too, so the step
option ``on: user`` would arrive as ``{True: "user"}``. YAML 1.2 (and every YAML reader a user
checks a recipe with today) reads them as strings; pydantic still accepts ``"yes"`` or ``"on"``
where an option is a boolean.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


class Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2's boolean rule."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=Yaml12Loader)
