"""JSON lines over a bot's stdin/stdout: one JSON object per line, each way.

The reader never holds more than ``max_line_bytes`` (+1) of an unfinished line: an oversize line is
reported as soon as it passes the limit and the rest of it is discarded as it arrives, so a bot writing
100 MiB without a newline costs the host nothing. A bad line is reported and consumed; the channel
stays usable for the next one.
"""

from __future__ import annotations

import json
import os
import select
import threading
import time
from collections.abc import Iterator, Mapping
from typing import IO, Any, Literal

from sandbox.errors import ProtocolError

DEFAULT_MAX_LINE_BYTES = 64 * 1024 - 1  # protocol v1: a line is at most 64 KiB, its newline included
_CHUNK = 65536


def _fileno(stream: IO[bytes] | int) -> int:
    return stream if isinstance(stream, int) else stream.fileno()


def _wait(fd: int, events: int, deadline: float | None) -> bool:
    """poll() one fd (no FD_SETSIZE limit: a host may hold thousands of bots' pipes)."""
    poller = select.poll()
    poller.register(fd, events)
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic()) * 1000
    return bool(poller.poll(remaining))


class _More:
    """More input is needed for the next line (and the caller does not wait for it)."""


_MORE = _More()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # one for every line: json.loads makes one per call


class JsonLineChannel:
    """Send dicts to a bot's stdin and receive dicts from its stdout.

    ``receive`` raises ProtocolError with a code (LINE_TOO_LONG, INVALID_UTF8, INVALID_JSON,
    NOT_AN_OBJECT, TIMEOUT, CLOSED); iterating yields dicts, or ProtocolError values for bad lines,
    until the bot closes its stdout. ``raw_lines`` yields the undecoded lines with their sizes instead, so a
    caller can apply a byte budget before it spends anything on decoding.
    """

    def __init__(
        self,
        writer: IO[bytes] | int,
        reader: IO[bytes] | int,
        *,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        send_timeout: float | None = 10.0,
    ) -> None:
        if max_line_bytes < 2:
            raise ValueError("max_line_bytes must be at least 2")
        self._streams: tuple[IO[bytes] | int | None, IO[bytes] | int] = (writer, reader)  # file objects own the fds
        self._wfd, self._rfd = _fileno(writer), _fileno(reader)
        os.set_blocking(self._wfd, False)
        os.set_blocking(self._rfd, False)
        self.max_line_bytes = max_line_bytes
        self.send_timeout = send_timeout
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer known to hold no newline
        self._discarding = False
        self._consumed = 0  # bytes taken off the input as lines or discarded, ...
        self._reported = 0  # ... and the part of them raw_lines has already accounted for
        self._eof = False
        self._input_closed = False  # set once the writer's fd is closed: its number may belong to another file now
        self._read_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._outbox = bytearray()  # queued by ``queue_bytes``: what the pipe could not take yet
        self.bytes_received = 0
        self.bytes_sent = 0

    # -- sending -------------------------------------------------------------------------------------

    def send(self, message: Mapping[str, Any], timeout: float | None = -1.0) -> None:
        """Write one object as a line. Raises ProtocolError(TIMEOUT) if the bot does not read it in time."""
        if not isinstance(message, Mapping):
            raise ProtocolError(ProtocolError.NOT_AN_OBJECT, "only JSON objects can be sent")
        try:
            data = (json.dumps(message, separators=(",", ":"), allow_nan=False) + "\n").encode()
        except (TypeError, ValueError) as error:
            raise ProtocolError(ProtocolError.NOT_SERIALIZABLE, str(error)) from None
        self.send_bytes(data, self.send_timeout if timeout == -1.0 else timeout)

    def send_bytes(self, data: bytes, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            with self._write_lock:
                if self._outbox:  # queued lines go first: the bot reads everything in the order it was sent
                    data, self._outbox = bytes(self._outbox) + data, bytearray()
                self._write(memoryview(data), deadline, timeout)
        finally:
            if self._input_closed:  # close_input came while this send was writing: close the fd now
                self._close_writer()

    def queue_bytes(self, data: bytes = b"") -> int:
        """Write ``data`` after whatever is queued, without waiting: what the pipe cannot take now stays queued
        for the next call. For one thread serving many bots, which must never wait for any one of them.
        Returns the bytes still queued (a bot that stops reading makes it grow: the caller bounds it).
        Raises ProtocolError(CLOSED) once the bot's stdin is closed."""
        try:
            with self._write_lock:
                if self._input_closed:
                    raise ProtocolError(ProtocolError.CLOSED, "the bot's stdin is closed")
                self._outbox += data
                while self._outbox:
                    try:
                        written = os.write(self._wfd, self._outbox)
                    except BlockingIOError:
                        break
                    except OSError as error:
                        raise ProtocolError(ProtocolError.CLOSED, f"the bot's stdin is closed ({error})") from None
                    del self._outbox[:written]
                    self.bytes_sent += written
                return len(self._outbox)
        finally:
            if self._input_closed:  # close_input came while this call was writing: close the fd now
                self._close_writer()

    def flush_queued(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the bot to take what ``queue_bytes`` left queued; True once it has. The lock is
        held only while writing, so the thread serving the other bots never waits here for this one."""
        deadline = time.monotonic() + timeout
        while self.queue_bytes():
            if not _wait(self._wfd, select.POLLOUT, deadline):
                return False
        return True

    def _write(self, view: memoryview, deadline: float | None, timeout: float | None) -> None:
        if self._input_closed:
            raise ProtocolError(ProtocolError.CLOSED, "the bot's stdin is closed")
        while view:
            if not _wait(self._wfd, select.POLLOUT, deadline):
                raise ProtocolError(ProtocolError.TIMEOUT, f"the bot did not read its input within {timeout} s")
            try:
                written = os.write(self._wfd, view)
            except BlockingIOError:
                continue
            except (BrokenPipeError, OSError) as error:
                raise ProtocolError(ProtocolError.CLOSED, f"the bot's stdin is closed ({error})") from None
            view = view[written:]
            self.bytes_sent += written

    # -- receiving -----------------------------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> dict[str, Any]:
        """Return the next object from the bot; ``timeout`` None waits for ever."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._read_lock:
            while True:
                line = self._next_line()
                if line is not None:
                    if line.strip():
                        return self._parse(line)
                    continue  # blank lines are ignored
                if self._eof:
                    raise ProtocolError(ProtocolError.CLOSED, "the bot closed its stdout")
                if not _wait(self._rfd, select.POLLIN, deadline):
                    raise ProtocolError(ProtocolError.TIMEOUT, f"no line from the bot within {timeout} s")
                self._fill()

    def raw_lines(self) -> Iterator[tuple[int, bytes | ProtocolError | None]]:
        """Until the bot closes its stdout: (bytes consumed, the line without its newline), or a ProtocolError
        (LINE_TOO_LONG) for an oversize line, or None for input that holds no line (a blank line, or the
        discarded rest of an oversize line, reported every ``max_line_bytes``). Decode a line with ``parse``."""
        while True:
            with self._read_lock:
                item = self._raw_line(wait=True)
            if item is False or isinstance(item, _More):
                return
            yield self._weighed(item)

    def ready_lines(self) -> tuple[list[tuple[int, bytes | ProtocolError | None]], bool]:
        """As ``raw_lines``, without waiting: one read of what the bot has written, and the lines it completes;
        and whether the bot has closed its stdout. For one thread polling many bots' pipes (``fileno``)."""
        lines: list[tuple[int, bytes | ProtocolError | None]] = []
        with self._read_lock:
            self._fill()
            while True:
                item = self._raw_line(wait=False)
                if item is False or isinstance(item, _More):
                    return lines, item is False
                lines.append(self._weighed(item))

    def fileno(self) -> int:
        """The fd the bot's lines arrive on, for polling."""
        return self._rfd

    def _weighed(self, item: bytes | ProtocolError | None) -> tuple[int, bytes | ProtocolError | None]:
        """An item with the input it consumed (since the last one), a blank line as None."""
        size, self._reported = self._consumed - self._reported, self._consumed
        return size, None if isinstance(item, bytes) and not item.strip() else item

    def _raw_line(self, wait: bool) -> bytes | ProtocolError | Literal[False] | _More | None:
        while True:
            try:
                line = self._next_line()
            except ProtocolError as error:
                return error
            if line is not None:
                return line
            if self._discarding and self._consumed - self._reported > self.max_line_bytes:
                return None  # account for a long discard as it goes, not only once it ends
            if self._eof:
                return False
            if not wait:
                return _MORE
            _wait(self._rfd, select.POLLIN, None)
            self._fill()

    def parse(self, line: bytes) -> dict[str, Any]:
        """A line from ``raw_lines`` as an object. Raises ProtocolError (INVALID_UTF8, INVALID_JSON, NOT_AN_OBJECT)."""
        return self._parse(line)

    def __iter__(self) -> Iterator[dict[str, Any] | ProtocolError]:
        while True:
            try:
                yield self.receive()
            except ProtocolError as error:
                if error.code == ProtocolError.CLOSED:
                    return
                yield error

    def _fill(self) -> None:
        want = max(1, min(_CHUNK, self.max_line_bytes + 1 - len(self._buffer)))
        try:
            data = os.read(self._rfd, _CHUNK if self._discarding else want)
        except BlockingIOError:
            return
        if not data:
            self._eof = True
            return
        self.bytes_received += len(data)
        if self._discarding:
            newline = data.find(b"\n")
            if newline < 0:
                self._consumed += len(data)
                return
            self._discarding = False
            self._consumed += newline + 1
            data = data[newline + 1:]
        self._buffer += data

    def _next_line(self) -> bytes | None:
        """Pop a complete line (without its newline); raise LINE_TOO_LONG; None if more input is needed."""
        newline = self._buffer.find(b"\n", self._scanned)
        if newline < 0:
            if len(self._buffer) > self.max_line_bytes:
                self._consumed += len(self._buffer)
                self._buffer.clear()
                self._scanned = 0
                self._discarding = True
                raise ProtocolError(
                    ProtocolError.LINE_TOO_LONG, f"a line longer than {self.max_line_bytes} bytes was discarded"
                )
            if self._eof and self._buffer:  # a last line without its newline
                line = bytes(self._buffer)
                self._consumed += len(line)
                self._buffer.clear()
                self._scanned = 0
                return line
            self._scanned = len(self._buffer)
            return None
        line = bytes(self._buffer[:newline])
        del self._buffer[: newline + 1]
        self._consumed += newline + 1
        self._scanned = 0
        if len(line) > self.max_line_bytes:
            raise ProtocolError(
                ProtocolError.LINE_TOO_LONG, f"a line longer than {self.max_line_bytes} bytes was discarded"
            )
        return line

    def _parse(self, line: bytes) -> dict[str, Any]:
        return parse_line(line)

    def close(self) -> None:
        """Close both ends; the bot sees EOF on its stdin."""
        self.close_input()
        reader = self._streams[1]
        try:
            if isinstance(reader, int):
                os.close(reader)
            else:
                reader.close()
        except OSError:
            pass

    def close_input(self) -> None:
        """Close the bot's stdin only (it reads EOF), keeping its stdout readable.

        Never under a send that is writing (that send closes it as it returns, so this never waits for a bot that
        does not read), and a send after this fails with CLOSED: writing to the closed fd's number could reach
        whatever the kernel gave that number to next, another bot's pipe or a Redis socket."""
        self._input_closed = True
        self._close_writer()

    def _close_writer(self) -> None:
        if not self._write_lock.acquire(blocking=False):
            return  # a send is writing; it calls this again once it has let go of the lock
        try:
            writer, self._streams = self._streams[0], (None, self._streams[1])
            if isinstance(writer, int):
                os.close(writer)
            elif writer is not None:
                writer.close()
        except OSError:
            pass
        finally:
            self._write_lock.release()


def parse_line(line: bytes) -> dict[str, Any]:
    """One line (without its newline) as an object. Raises ProtocolError (INVALID_UTF8, INVALID_JSON,
    NOT_AN_OBJECT). Shared by every transport a bot's lines arrive on (its stdout, the remote-bot gateway)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtocolError(ProtocolError.INVALID_UTF8, f"the line is not UTF-8 ({error.reason} at byte "
                            f"{error.start})") from None
    try:
        value = _DECODER.decode(text)
    except (ValueError, RecursionError) as error:
        raise ProtocolError(ProtocolError.INVALID_JSON, f"the line is not JSON: {str(error)[:200]}") from None
    if not isinstance(value, dict):
        raise ProtocolError(ProtocolError.NOT_AN_OBJECT,
                            f"each line must be a JSON object, got {type(value).__name__}")
    return value
