"""The stdio runner: a bot file ends with ``if __name__ == "__main__": run(MyBot)`` and speaks protocol v1.

It reads one JSON object per line from stdin and hands it to :meth:`Bot.handle`. After ``hello`` (tick 0)
and after every ``tick`` it writes what the bot sent, then ``{"type": "done", "n": N}``, and flushes.
Stdout belongs to the protocol alone: the runner moves file descriptor 1 to a private descriptor and
points fd 1 and ``sys.stdout`` at stderr, so a stray ``print`` (or a C library writing to fd 1) cannot
corrupt the stream. Under ``arena backtest`` none of this runs: the backtest calls ``handle`` directly.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, BinaryIO, TextIO

from arena_bot.bot import Bot

MAX_LINE_BYTES = 65536  # one line, newline included (docs/protocol.md)
_FLUSH_AFTER = ("hello", "tick", "ping", "end")  # messages after which the outbox is written


def run(
    bot: type[Bot] | Bot,
    *,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    stderr: TextIO | None = None,
    raise_errors: bool = False,
) -> int:
    """Run ``bot`` (a Bot subclass or instance) over stdio until ``end`` or EOF; returns an exit status.

    An exception in a callback is printed to stderr with its traceback and the bot carries on (a tick
    still ends with ``done``, so one bad tick does not cost the deadline); ``raise_errors=True`` makes
    it fatal instead. Pass ``stdin``/``stdout``/``stderr`` to run over other streams (tests); then the
    process's own descriptors are left alone.
    """
    redirected = stdin is None and stdout is None
    saved: tuple[int, TextIO] | None = None
    if redirected:
        # Keep the protocol on a private duplicate of fd 1, then make fd 1 and sys.stdout the error stream.
        if sys.stdout is not None:
            sys.stdout.flush()
        protocol_fd = os.dup(1)
        saved = (os.dup(1), sys.stdout)
        try:
            os.dup2(2, 1)
        except OSError:  # no stderr at all: stray writes to fd 1 must still not reach the host
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.close(devnull)
        sys.stdout = sys.stderr
        stdout = os.fdopen(protocol_fd, "wb")  # buffered: a BufferedWriter finishes partial pipe writes
    reader = stdin if stdin is not None else sys.stdin.buffer
    writer: BinaryIO = stdout if stdout is not None else sys.stdout.buffer
    err = stderr if stderr is not None else sys.stderr
    try:
        return _loop(bot, reader, writer, err, raise_errors)
    finally:
        if saved is not None:
            writer.close()
            os.dup2(saved[0], 1)
            os.close(saved[0])
            sys.stdout = saved[1]


def _loop(bot: type[Bot] | Bot, reader: BinaryIO, writer: BinaryIO, err: TextIO, raise_errors: bool) -> int:
    try:
        instance = bot() if isinstance(bot, type) else bot
    except Exception:
        _report(err, "the bot could not be created")
        return 1
    while True:
        line = reader.readline(MAX_LINE_BYTES)
        if not line:
            return 0  # EOF: the host is gone or done with us
        if not line.endswith(b"\n") and len(line) >= MAX_LINE_BYTES:
            _skip_rest_of_line(reader)  # the host never sends these; guard anyway
            print(f"arena: skipped a host line longer than {MAX_LINE_BYTES} bytes", file=err)
            continue
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError as exc:
            print(f"arena: skipped a host line that is not JSON: {exc}", file=err)
            continue
        if not isinstance(message, dict):
            print("arena: skipped a host line that is not a JSON object", file=err)
            continue
        kind = message.get("type")
        try:
            instance.handle(message)
        except Exception:
            _report(err, f"the bot raised while handling {str(kind)[:40]!r}")
            if raise_errors:
                _write(writer, err, instance.take_outbox())
                return 1
        if kind in _FLUSH_AFTER:
            out = instance.take_outbox()
            if kind == "hello":
                out.append({"type": "done", "n": 0})
            elif kind == "tick":
                n = message.get("n")
                out.append({"type": "done", "n": n} if isinstance(n, int) else {"type": "done"})
            _write(writer, err, out)
        if kind == "end":
            return 0


def _write(writer: BinaryIO, err: TextIO, messages: list[dict[str, Any]]) -> None:
    """Write messages as lines in one go; one that cannot be encoded is reported and left out."""
    chunks = []
    for message in messages:
        try:
            data = (json.dumps(message, separators=(",", ":"), allow_nan=False) + "\n").encode()
        except (TypeError, ValueError) as exc:
            print(f"arena: dropped a {message.get('type')!r} message that is not valid JSON: {exc}", file=err)
            continue
        if len(data) > MAX_LINE_BYTES:
            print(f"arena: dropped a {message.get('type')!r} message over {MAX_LINE_BYTES} bytes", file=err)
            continue
        chunks.append(data)
    if chunks:
        try:
            writer.write(b"".join(chunks))
            writer.flush()
        except BrokenPipeError:
            pass  # the host has gone; the next read sees EOF


def _skip_rest_of_line(reader: BinaryIO) -> None:
    while True:
        chunk = reader.readline(MAX_LINE_BYTES)
        if not chunk or chunk.endswith(b"\n"):
            return


def _report(err: TextIO, what: str) -> None:
    print(f"arena: {what}:\n{traceback.format_exc()}", file=err, end="")
    err.flush()
