"""Remote bots: a bot on its contestant's own machine, speaking protocol v1 over a WebSocket, run by the same
``Supervisor`` as a sandboxed bot.

The supervisor talks to a bot through a process (``channel``, ``kill``, ``wait``, ``done``, ``usage``) that a
sandbox starts. Here ``RemoteSandbox.start`` hands it a ``RemoteBot`` instead: the same interface over a
connection the bot gateway holds (``arena.api.gateway``). So every line a remote bot sends is weighed, decoded
and validated by the supervisor's own code (the flood guard, ``parse_bot_message``, the string caps, the order
rate cap), its orders are stamped with its own tournament and account, and it reports to the engine on the bus
like any other bot: the lockstep deadline applies to it unchanged.

Framing: each WebSocket message holds one or more protocol lines separated by ``\\n`` (the host sends a tick's
batch in one message). A line over ``MAX_LINE_BYTES`` is refused ``LINE_TOO_LONG`` as on stdio; a message over
``MAX_MESSAGE_BYTES`` ends the connection (close 1009): no transport buffers more than that for a bot.

The gateway's event loop and the supervisor's threads meet here: the loop ``feed``s received messages (at most
``WINDOW`` waiting, the loop takes no more until the supervisor has read one) and the supervisor writes through
``write``, a blocking call the gateway provides, bounded by a timeout like a sandboxed bot's stdin.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from arena.runtime.protocol import MAX_LINE_BYTES, encode_line
from sandbox import Limits, Outcome, ProtocolError, Status
from sandbox.channel import parse_line

MAX_MESSAGE_BYTES = 1024 * 1024  # one WebSocket message from a bot: up to 16 full lines
WINDOW = 64  # received messages waiting for the supervisor before the gateway stops reading
SEND_TIMEOUT_S = 10.0  # as a sandboxed bot's stdin: a bot that does not read for this long is cut off

# WebSocket close codes the gateway ends a bot's connection with (RFC 6455 §7.4; 4000-4999 are the application's).
CLOSE_NORMAL = 1000  # the tournament ended (or the bot's run did)
CLOSE_POLICY = 1008  # the bot was cut off (flooding) or ended by the host
CLOSE_TOO_BIG = 1009  # a message over MAX_MESSAGE_BYTES
CLOSE_SERVICE_RESTART = 1012  # the API process holding the connection is stopping (uvicorn closes with it)
CLOSE_UNAUTHENTICATED = 4401  # no signature, a bad one, a stale timestamp, a replayed nonce, an unknown key
CLOSE_FORBIDDEN = 4403  # the tournament takes no remote bots
CLOSE_NOT_FOUND = 4404  # no such tournament, or the key's contestant has no remote entry of that bot in it
CLOSE_CONFLICT = 4409  # not running (yet, or any more), or this entry is connected already

LIVE_TTL_S = 5  # a connection's live mark outlasts its renewal (every second) by this much
GRACE_S = 30.0  # a remote bot whose connection dropped may come back within this long (ARENA_REMOTE_GRACE_S)
DROPPED = "dropped"  # the ``connection`` its supervisor's report names: it may come back within the grace


def live_key(tournament: str, bot: str) -> str:
    """Set while a remote bot's connection is open, on whichever API process holds it (renewed every second, holding
    that connection's id): the entry's claim, and the engine's sign that the bot is there."""
    return f"arena:{{{tournament}}}:remote:{bot}:live"


def grace_s() -> float:
    """How long the engine keeps a remote bot whose connection dropped (``ARENA_REMOTE_GRACE_S``, 1 s to 1 h)."""
    try:
        return min(max(float(os.environ.get("ARENA_REMOTE_GRACE_S", GRACE_S)), 1.0), 3600.0)
    except ValueError:
        return GRACE_S


Write = Callable[[bytes, float], None]  # send one message; raises ProtocolError (TIMEOUT, CLOSED)
Close = Callable[[int, str], object]  # close the connection with a code and a reason; returns at once


class RemoteChannel:
    """The supervisor's channel to a remote bot (what ``JsonLineChannel`` is to a sandboxed one)."""

    def __init__(self, bot: RemoteBot) -> None:
        self._bot = bot

    def send(self, message: Mapping[str, Any], timeout: float | None = -1.0) -> None:
        data = encode_line(message) + b"\n"
        self.send_bytes(data, SEND_TIMEOUT_S if timeout == -1.0 or timeout is None else timeout)

    def send_bytes(self, data: bytes, timeout: float | None = None) -> None:
        self._bot.write(data, SEND_TIMEOUT_S if timeout is None else timeout)

    def raw_lines(self) -> Iterator[tuple[int, bytes | ProtocolError | None]]:
        """As ``JsonLineChannel.raw_lines``: (bytes, the line) per line received, until the connection closes."""
        for message in self._bot.messages():
            pieces = message.split(b"\n")
            if message.endswith(b"\n"):
                pieces.pop()
            for piece in pieces:
                size = len(piece) + 1
                if len(piece) > MAX_LINE_BYTES - 1:
                    yield size, ProtocolError(ProtocolError.LINE_TOO_LONG,
                                              f"a line longer than {MAX_LINE_BYTES - 1} bytes was discarded")
                else:
                    yield size, piece if piece.strip() else None

    def parse(self, line: bytes) -> dict[str, Any]:
        return parse_line(line)

    def close_input(self) -> None:
        """The host is done with the bot (after ``end``): close the connection normally."""
        self._bot.end(Status.EXITED, "the tournament ended", CLOSE_NORMAL)


class RemoteBot:
    """One remote bot's connection as the supervisor's process. ``feed`` and ``disconnected`` come from the
    gateway's event loop; everything else from the supervisor's threads."""

    def __init__(self, write: Write, close: Close, taken: Callable[[], object], resume_at: int = 0) -> None:
        """``resume_at``: the tick a returning bot's connection resumes at (0: a first connection). Its supervisor
        is new and relays the tournament from the start; until that tick everything but the ``hello`` and the latest
        ``portfolio`` is held back (``CatchUp``), so the bot sees where it stands, not the past."""
        self._write, self._close, self._taken = write, close, taken
        self._catch_up = CatchUp(resume_at) if resume_at else None
        self.description: dict[str, object] = {"runtime": "remote"}
        self._incoming: queue.Queue[tuple[bytes, bool] | None] = queue.Queue()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._status, self._reason = Status.EXITED, ""
        self._started = time.monotonic()
        self.channel = RemoteChannel(self)
        self.usage = None  # no CPU or memory figures: the machine is the contestant's

    # -- from the gateway ------------------------------------------------------------------------------

    def feed(self, message: bytes, counted: bool = True) -> None:
        """A message the bot sent; ``counted``: it took one of the gateway's receive credits (a REST order took
        none), given back once the supervisor has read it."""
        self._incoming.put((message, counted))

    def disconnected(self, code: int | None) -> None:
        """The connection is gone: the bot's run is over. The bot left (it closed, or the network failed), unless the
        API process holding the connection closed it as it stopped: then the host is at fault, as when a bot host
        stops (the supervisor reports a CRASHED outcome as host_fault)."""
        if self._done.is_set():
            return
        # It may come back (a fresh handshake) within the grace: the engine keeps it until then (docs/remote-bots.md).
        self.description["connection"] = DROPPED
        if code == CLOSE_SERVICE_RESTART:
            self.end(Status.CRASHED, "the API process holding the remote bot's connection stopped", None)
        else:
            self.end(Status.EXITED, f"the remote bot disconnected (close code {code})", None)

    # -- from the supervisor ----------------------------------------------------------------------------

    def messages(self) -> Iterator[bytes]:
        while (item := self._incoming.get()) is not None:
            message, counted = item
            if counted:
                self._taken()
            yield message

    def write(self, data: bytes, timeout: float) -> None:
        if self._done.is_set():
            raise ProtocolError(ProtocolError.CLOSED, "the remote bot's connection is closed")
        if self._catch_up is not None:
            data = self._catch_up.let_through(data)
            if self._catch_up.over:
                self._catch_up = None
            if not data:
                return
        self._write(data, timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def kill(self, reason: str = "ended by the host") -> None:
        self.end(Status.KILLED, reason, CLOSE_POLICY)

    def end(self, status: Status, reason: str, code: int | None) -> None:
        """The run is over, with ``status``; ``code``: close the connection with it (None: it is closed)."""
        with self._lock:
            if self._done.is_set():
                return
            self._status, self._reason = status, reason
            self._done.set()
        self._incoming.put(None)  # the reader's end of input
        if code is not None:
            self._close(code, reason)

    def wait(self, timeout: float | None = None) -> Outcome:
        if not self._done.wait(timeout):
            raise TimeoutError(f"the remote bot is still connected after {timeout} s")
        return Outcome(status=self._status, exit_code=None, wall_seconds=time.monotonic() - self._started,
                       cpu_seconds=None, peak_memory_bytes=None, stdout=b"", stderr=b"", runtime="remote",
                       reason=self._reason)  # fmt: skip


class CatchUp:
    """What a returning bot is sent while its new supervisor relays the tournament up to the tick it resumes at:
    its ``hello``, then (with that tick) the latest ``portfolio`` held back and everything from that tick on. The
    market data held back leaves gaps in the sequence numbers, so the bot asks for a ``resync`` and gets each book's
    snapshot (protocol v1's own recovery)."""

    def __init__(self, resume_at: int) -> None:
        self.resume_at, self.over = resume_at, False
        self._portfolio: bytes | None = None
        self._greeted = False

    def let_through(self, data: bytes) -> bytes:
        lines = [line for line in data.split(b"\n") if line.strip()]
        kept: list[bytes] = []
        for i, line in enumerate(lines):
            kind, n = _kind_and_tick(line)
            if kind == "hello" and not self._greeted:
                self._greeted = True
                kept.append(line)
            elif kind == "portfolio":
                self._portfolio = line
            elif (kind == "tick" and n >= self.resume_at) or kind == "end":
                self.over = True
                kept.extend([self._portfolio] if self._portfolio else [])
                kept.extend(lines[i:])
                break
        return b"".join(line + b"\n" for line in kept)


def _kind_and_tick(line: bytes) -> tuple[str, int]:
    try:
        message = json.loads(line)
    except ValueError:
        return "", 0
    n = message.get("n")
    return str(message.get("type", "")), n if isinstance(n, int) else 0


class RemoteSandbox:
    """What the supervisor starts a remote bot with: the connection it already has."""

    def __init__(self, bot: RemoteBot, peer: str = "") -> None:
        self._bot, self._peer = bot, peer

    def describe(self) -> dict[str, object]:
        """The bot's description, kept by its supervisor's report: ``connection`` is set to ``dropped`` if the
        connection drops, which tells the engine the bot may come back."""
        self._bot.description["peer"] = self._peer or None
        return self._bot.description

    def start(self, path: str | Path, *, limits: Limits | None = None) -> RemoteBot:
        return self._bot
