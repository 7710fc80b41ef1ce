"""The options every method command shares: ``--profile``, ``--set KEY.PATH=VALUE`` and
``--help-config``, which lists every field of the method's configuration with its value in each
profile and what it means."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from goldpan.util.method_config import MethodConfig, describe_fields

SetOption = Annotated[
    list[str],
    typer.Option(
        "--set",
        help="Override any configuration field, KEY.PATH=VALUE (values are YAML; nested fields "
        "with dots, e.g. student.learning_rate=1e-5); --help-config lists them.",
    ),
]


def config_table(config: type[MethodConfig]) -> Table:
    """Every field (nested ones as dotted paths), its type, its value per profile, its doc."""
    profiles = config.profiles()
    table = Table(title=f"{config.__name__}: --set KEY=VALUE", show_lines=False)
    table.add_column("key", no_wrap=True)
    table.add_column("type")
    for profile in profiles:
        table.add_column(profile)
    table.add_column("meaning")
    columns = [
        list(describe_fields(config, config.build(profile).model_dump())) for profile in profiles
    ]
    for rows in zip(*columns, strict=True):
        key, kind, _, doc = rows[0]
        table.add_row(key, kind, *(row[2] for row in rows), doc)
    return table


def help_config_option(config: type[MethodConfig]) -> Any:
    """An eager ``--help-config`` flag that prints ``config``'s table and exits."""

    def show(value: bool) -> None:
        if value:
            Console(width=None if sys.stdout.isatty() else 160).print(config_table(config))
            raise typer.Exit(0)

    return Annotated[
        bool,
        typer.Option(
            "--help-config",
            is_eager=True,
            callback=show,
            help="List every configuration field with its value in each profile, and exit.",
        ),
    ]
