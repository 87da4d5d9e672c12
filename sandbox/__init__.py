"""Arena's sandbox: run an untrusted bot behind an OCI runtime (runsc, else runc) under verified limits.

    from sandbox import Limits, Sandbox, run_bot

    outcome = run_bot("bot.py", ["--seed", "7"], limits=Limits.parse(memory="128M", timeout=10))
    outcome.status, outcome.exit_code, outcome.stdout

    with Sandbox().start("bot.py") as bot:          # talk JSON lines on stdin/stdout
        bot.channel.send({"type": "tick"})
        reply = bot.channel.receive(timeout=1.0)

The package knows nothing about trading; it is stdlib only.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike

from sandbox.adoption import adopt_bots
from sandbox.channel import JsonLineChannel
from sandbox.errors import (
    BotNotFound,
    LimitsError,
    ProtocolError,
    RuntimeUnavailable,
    SandboxError,
    SandboxRefused,
)
from sandbox.limits import Limits, parse_bytes, parse_cpu, parse_seconds
from sandbox.outcome import Outcome, Status
from sandbox.runtime import Runtime, select_runtime
from sandbox.supervise import BotProcess, Sandbox

__all__ = [
    "BotNotFound",
    "BotProcess",
    "JsonLineChannel",
    "Limits",
    "LimitsError",
    "Outcome",
    "ProtocolError",
    "Runtime",
    "RuntimeUnavailable",
    "Sandbox",
    "SandboxError",
    "SandboxRefused",
    "Status",
    "adopt_bots",
    "parse_bytes",
    "parse_cpu",
    "parse_seconds",
    "run_bot",
    "select_runtime",
]


def run_bot(
    bot: str | PathLike[str],
    args: Sequence[str] = (),
    *,
    limits: Limits | None = None,
    runtime: str | None = None,
    stdin: bytes | None = None,
) -> Outcome:
    """Run one bot file (or folder with main.py) to its end in a fresh sandbox and return its Outcome."""
    return Sandbox(limits, runtime=runtime).run(bot, args, stdin=stdin)
