"""The ``arena`` command's error console, and how a command reports a domain error (code + message, exit 1; 2 is
click's code for a usage error).

Below ``arena.cli`` and the command groups it mounts (``arena images``), so that they share it without
importing each other.
"""

from __future__ import annotations

import json

import typer
from rich.console import Console

err = Console(stderr=True)


def fail(code: str, message: str, as_json: bool) -> typer.Exit:
    """Report a domain error (machine-readable code + message) and give the exit to raise (status 1)."""
    if as_json:
        print(json.dumps({"error": {"code": code, "message": message}}))
    else:
        err.print(f"[bold red]error[/] [{code}] {message}", highlight=False)
    return typer.Exit(1)
