"""Progress of the ``arena`` command's long steps, on stderr: a spinner naming the step under way, a bar where the
work is counted. Shown when stderr is a terminal, never with --json (unless --progress forces it; it still goes
to stderr), and never into a pipe or a file, so that output and logs stay clean; --progress draws it anyway,
--no-progress never.

Below ``arena.cli`` and the command groups it mounts, beside ``arena.console``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from arena.console import err

if TYPE_CHECKING:
    from rich.progress import Progress

ShowProgress = Annotated[bool | None, typer.Option(
    "--progress/--no-progress", help="Progress on stderr (default: when stderr is a terminal, and not with --json).",
)]  # fmt: skip


def progress_console(show: bool | None, as_json: bool = False) -> Console | None:
    """Where to draw progress, or None: nowhere."""
    if show is False or (show is None and (as_json or not err.is_terminal)):
        return None
    return err if err.is_terminal else Console(stderr=True, force_terminal=True)  # forced: drawn into a pipe


@contextmanager
def steps(where: Console | None, first: str) -> Iterator[Callable[[str], None]]:
    """A spinner showing ``first``, then what each call of the yielded function names; nothing without a console."""
    if where is None:
        yield lambda _text: None
        return
    with where.status(first) as status:
        yield lambda text: status.update(text)


def bar(where: Console | None) -> Progress:
    """A bar for counted work (add its tasks); it draws nothing without a console. Gone from the screen once done."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=where or Console(quiet=True), transient=True,
                    disable=where is None)  # fmt: skip
