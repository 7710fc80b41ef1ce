"""The ``goldpan`` command: the top layer, the only one that prints for the user and writes
reports after runs."""

from goldpan.cli.app import app, main

__all__ = ["app", "main"]
