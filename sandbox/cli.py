"""``arena sandbox run``: run one bot file or folder in the sandbox (mounted by arena/cli.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from sandbox.errors import SandboxError
from sandbox.limits import Limits
from sandbox.outcome import Outcome, Status

app = typer.Typer(help="Run untrusted bots in the sandbox (runsc, else runc).", no_args_is_help=True)

# Shell-style exit codes for the outcome (the bot's own code when it exited).
_EXIT_CODES = {Status.TIMEOUT: 124, Status.CRASHED: 125, Status.OOM: 137, Status.KILLED: 137,
               Status.OUTPUT_LIMIT: 141}


@app.callback()
def _group() -> None:
    """Run untrusted bots in the sandbox."""


def _mib(value: int | None) -> str:
    return "?" if value is None else f"{value / (1 << 20):.1f} MiB"


def _summary(outcome: Outcome) -> str:
    what = outcome.status.value
    if outcome.status is Status.EXITED:
        what += f" with code {outcome.exit_code}"
    if outcome.reason:
        what += f" ({outcome.reason})"
    cpu = "?" if outcome.cpu_seconds is None else f"{outcome.cpu_seconds:.2f} s"
    return (f"sandbox: {what}; wall {outcome.wall_seconds:.2f} s, cpu {cpu}, "
            f"peak memory {_mib(outcome.peak_memory_bytes)}, runtime {outcome.runtime}")



@app.command()
def run(
    path: Annotated[Path, typer.Argument(help="A bot .py file, or a folder with main.py.")],
    args: Annotated[list[str] | None, typer.Argument(help="Arguments for the bot (after --).")] = None,
    cpu: Annotated[str, typer.Option(help="vCPUs (CFS quota), e.g. 0.5 or 500m.")] = "0.5",
    memory: Annotated[str, typer.Option(help="Memory limit, no swap, e.g. 256M.")] = "256M",
    pids: Annotated[int, typer.Option(help="Maximum number of processes and threads.")] = 64,
    timeout: Annotated[str, typer.Option(help="Wall-clock limit, e.g. 30, 30s, 2m.")] = "60",
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object, nothing else.")] = False,
    runtime: Annotated[str | None, typer.Option(help="runsc or runc (default: $ARENA_SANDBOX_RUNTIME, "
                                                     "else runsc if installed, else runc).")] = None,
) -> None:
    """Run PATH in the sandbox, passing ARGS to it; exits with the bot's code (124 timeout, 137 killed)."""
    from sandbox.supervise import Sandbox  # keeps `arena --help` fast

    try:
        limits = Limits.parse(cpu=cpu, memory=memory, pids=pids, timeout=timeout)
        box = Sandbox(limits, runtime=runtime)
        if as_json:
            outcome = box.run(path, args or [])
        else:
            def out(data: bytes) -> None:
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()

            def err(data: bytes) -> None:
                sys.stderr.buffer.write(data)
                sys.stderr.buffer.flush()

            outcome = box.run(path, args or [], on_stdout=out, on_stderr=err)
    except SandboxError as error:
        if as_json:
            print(json.dumps({"status": "refused" if "refus" in str(error) else "error", "error": str(error)}))
        else:
            typer.secho(f"sandbox: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(outcome.to_dict()))
    else:
        colour = typer.colors.GREEN if outcome.ok else typer.colors.YELLOW
        typer.secho(_summary(outcome), fg=colour, err=True)
    if outcome.status is Status.EXITED:
        raise typer.Exit(outcome.exit_code or 0)
    raise typer.Exit(_EXIT_CODES[outcome.status])


@app.command()
def rootfs() -> None:
    """Build (once) and describe the root filesystem bots get on this host."""
    from sandbox.rootfs import default_layout, describe, ensure_skeleton
    from sandbox.runtime import select_runtime, state_dir

    layout = default_layout(select_runtime().name)
    typer.echo(describe(layout, ensure_skeleton(layout, state_dir())))
