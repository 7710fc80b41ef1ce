"""Method configurations, TRL-style: validated pydantic models whose fields carry their paper's
value in their description, named profiles kept as data, and every field settable from the
command line with ``--set key.path=value`` (the same syntax recipes use).

``MethodConfig.build(profile, overrides)`` starts from the defaults (the paper's), applies the
profile's values, then the overrides, and validates once, so an error names the key path the
user typed. ``describe_fields`` lists every field, nested ones included, for ``--help-config``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from goldpan.errors import GoldpanError
from goldpan.util.overrides import apply_overrides
from goldpan.util.validation import format_validation_error


class MethodConfig(BaseModel):
    """Base of every method's configuration. ``PROFILES`` maps a profile name to the values
    (nested dicts for nested configs) it changes from the defaults; ``paper`` is the defaults."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def profiles(cls) -> list[str]:
        return ["paper", *sorted(p for p in cls.PROFILES if p != "paper")]

    @classmethod
    def build(
        cls, profile: str = "paper", overrides: list[str] | None = None, **values: Any
    ) -> Self:
        """Defaults, then the profile, then ``values`` (from named command-line options), then
        ``--set`` overrides; validated once."""
        if profile != "paper" and profile not in cls.PROFILES:
            raise GoldpanError(f"--profile {profile!r}: choose {', '.join(cls.profiles())}")
        data = _merged(cls().model_dump(mode="python"), cls.PROFILES.get(profile, {}))
        data = _merged(data, {k: v for k, v in values.items() if v is not None})
        apply_overrides(data, list(overrides or []))
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise GoldpanError(format_validation_error("--set", error)) from None


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def describe_fields(
    model: type[BaseModel], values: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, str, str, str]]:
    """(key path, type, value, description) of every field, nested models flattened; the
    values come from ``values`` (a configuration's ``model_dump()``)."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from describe_fields(annotation, values.get(name) or {}, prefix=f"{path}.")
            continue
        type_name = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
        yield path, type_name, repr(values.get(name)), field.description or ""
