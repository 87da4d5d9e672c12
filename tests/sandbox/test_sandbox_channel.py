"""The JSON-lines channel: unit tests over pipes, then against real sandboxed bots."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox import JsonLineChannel, ProtocolError, Sandbox, Status

Pipes = tuple[JsonLineChannel, int, int]  # channel, fd the "bot" writes to, fd the "bot" reads from

pytestmark = pytest.mark.sandbox


@pytest.fixture
def pipes() -> Iterator[Pipes]:
    bot_out_r, bot_out_w = os.pipe()
    bot_in_r, bot_in_w = os.pipe()
    channel = JsonLineChannel(bot_in_w, bot_out_r, max_line_bytes=1024, send_timeout=0.5)
    yield channel, bot_out_w, bot_in_r
    for fd in (bot_out_w, bot_in_r):
        with contextlib.suppress(OSError):
            os.close(fd)
    channel.close()


def test_objects_round_trip(pipes: Pipes) -> None:
    channel, bot_out, bot_in = pipes
    channel.send({"type": "tick", "price": 1.5})
    assert os.read(bot_in, 100) == b'{"type":"tick","price":1.5}\n'
    os.write(bot_out, b'{"a": 1}\n\n{"b": [2]}\r\n')
    assert channel.receive(timeout=1) == {"a": 1}
    assert channel.receive(timeout=1) == {"b": [2]}


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"\xff\xfe not utf8", ProtocolError.INVALID_UTF8),
        (b"{not json", ProtocolError.INVALID_JSON),
        (b'{"x": NaN}', ProtocolError.INVALID_JSON),
        (b"[1, 2]", ProtocolError.NOT_AN_OBJECT),
        (b'"text"', ProtocolError.NOT_AN_OBJECT),
        (b"[" * 100_000, ProtocolError.LINE_TOO_LONG),
        (b"[" * 1000, ProtocolError.INVALID_JSON),
    ],
)
def test_bad_lines_are_rejected_and_the_channel_goes_on(pipes: Pipes, line: bytes, code: str) -> None:
    channel, bot_out, _ = pipes
    writer = threading.Thread(target=os.write, args=(bot_out, line + b'\n{"next": true}\n'))
    writer.start()
    with pytest.raises(ProtocolError) as caught:
        channel.receive(timeout=2)
    assert caught.value.code == code
    assert channel.receive(timeout=2) == {"next": True}
    writer.join()


def test_oversize_line_is_reported_before_it_ends_and_never_buffered(pipes: Pipes) -> None:
    channel, bot_out, _ = pipes
    os.write(bot_out, b"x" * 2000)  # no newline yet
    with pytest.raises(ProtocolError) as caught:
        channel.receive(timeout=1)
    assert caught.value.code == ProtocolError.LINE_TOO_LONG
    os.write(bot_out, b"y" * 5000 + b'\n{"ok": 1}\n')  # the rest of the long line is dropped
    assert channel.receive(timeout=1) == {"ok": 1}
    assert len(channel._buffer) <= channel.max_line_bytes + 1


def test_the_default_limit_is_protocol_v1s_64_kib_line() -> None:
    from arena.runtime.protocol import MAX_LINE_BYTES
    from sandbox.channel import DEFAULT_MAX_LINE_BYTES

    assert DEFAULT_MAX_LINE_BYTES + 1 == MAX_LINE_BYTES == 64 * 1024  # the newline makes it 64 KiB


def test_raw_lines_account_for_every_byte_before_anything_is_decoded(pipes: Pipes) -> None:
    """Each item carries the bytes it consumed (an oversize line's discarded rest too, as it goes), so a byte
    budget sees what the bot really wrote; lines are handed over undecoded."""
    channel, bot_out, _ = pipes
    data = b'{"a": 1}\n\n' + b"x" * 5000 + b'\nnot json\n' + b"z" * 3000
    writer = threading.Thread(target=lambda: (os.write(bot_out, data), os.close(bot_out)))
    writer.start()
    items = list(channel.raw_lines())
    writer.join()
    assert sum(size for size, _ in items) == len(data)
    kinds = [item if isinstance(item, bytes | None) else item.code for _, item in items]
    assert kinds[0] == b'{"a": 1}' and kinds[1] is None and ProtocolError.LINE_TOO_LONG in kinds
    assert b"not json" in kinds and kinds.count(ProtocolError.LINE_TOO_LONG) == 2
    assert all(size <= channel.max_line_bytes + 1 + 65536 for size, _ in items)  # one read at most past a line
    assert channel.parse(b'{"b": 2}') == {"b": 2}
    with pytest.raises(ProtocolError):
        channel.parse(b"not json")


def test_timeout_and_eof(pipes: Pipes) -> None:
    channel, bot_out, _ = pipes
    with pytest.raises(ProtocolError) as caught:
        channel.receive(timeout=0.05)
    assert caught.value.code == ProtocolError.TIMEOUT
    os.write(bot_out, b'{"last": 1}')  # final line without newline
    os.close(bot_out)
    assert list(channel) == [{"last": 1}]
    with pytest.raises(ProtocolError) as caught:
        channel.receive(timeout=1)
    assert caught.value.code == ProtocolError.CLOSED


def test_iteration_yields_errors_in_place(pipes: Pipes) -> None:
    channel, bot_out, _ = pipes
    os.write(bot_out, b'{"a": 1}\n\xc3\x28\n{"b": 2}\n')
    os.close(bot_out)
    items = list(channel)
    assert items[0] == {"a": 1} and items[2] == {"b": 2}
    assert isinstance(items[1], ProtocolError) and items[1].code == ProtocolError.INVALID_UTF8


def test_send_to_a_bot_that_never_reads_times_out(pipes: Pipes) -> None:
    channel, _, _ = pipes
    with pytest.raises(ProtocolError) as caught:
        for _ in range(10_000):  # 10 MB at most; the pipe holds 64 KiB
            channel.send({"fill": "z" * 1000})
    assert caught.value.code == ProtocolError.TIMEOUT


def test_a_send_after_close_input_never_reaches_the_fd_number_given_to_another_file(pipes: Pipes) -> None:
    """The supervisor's reader thread may reply to a bot after the relay closed the bot's stdin at the end; the fd's
    number is free by then and the next pipe (another bot's) or socket (Redis) opened on the host gets it."""
    channel, _, bot_in_r = pipes
    channel.close_input()
    assert os.read(bot_in_r, 10) == b""  # the bot sees EOF
    other_r, other_w = os.pipe()  # takes the lowest free number: the one the bot's stdin had
    try:
        with pytest.raises(ProtocolError) as caught:
            channel.send({"type": "order_update", "status": "rejected"})
        assert caught.value.code == ProtocolError.CLOSED
        os.set_blocking(other_r, False)
        with pytest.raises(BlockingIOError):
            os.read(other_r, 100)  # nothing was written into the other file
    finally:
        os.close(other_r)
        os.close(other_w)


def test_close_input_during_a_blocked_send_does_not_wait_for_it(pipes: Pipes) -> None:
    """Closing a non-reading bot's stdin must not wait out a send that is blocked on it; the fd is closed once that
    send gives up, and the bot then reads EOF."""
    channel, _, bot_in_r = pipes
    with contextlib.suppress(ProtocolError):
        for _ in range(1000):  # fill the pipe
            channel.send({"fill": "z" * 1000}, timeout=0.05)
    failed: list[ProtocolError] = []

    def blocked_send() -> None:
        try:
            channel.send({"fill": "z" * 1000}, timeout=2.0)
        except ProtocolError as error:
            failed.append(error)

    sender = threading.Thread(target=blocked_send)
    sender.start()
    started = time.monotonic()
    while not channel._write_lock.locked() and time.monotonic() - started < 2:
        time.sleep(0.001)  # poll until the sender holds the lock
    channel.close_input()
    assert time.monotonic() - started < 1.0  # did not wait for the blocked send
    sender.join(5)
    assert failed and failed[0].code == ProtocolError.TIMEOUT
    os.set_blocking(bot_in_r, False)
    while os.read(bot_in_r, 65536):  # drain; then EOF: the sender closed the fd as it returned
        pass


def test_unserializable_and_non_objects_are_refused(pipes: Pipes) -> None:
    channel, _, _ = pipes
    with pytest.raises(ProtocolError) as caught:
        channel.send({"x": object()})
    assert caught.value.code == ProtocolError.NOT_SERIALIZABLE
    with pytest.raises(ProtocolError):
        channel.send([1, 2])  # type: ignore[arg-type]


# -- with real bots --------------------------------------------------------------------------------------


def test_echo_bot_over_the_channel(box: Sandbox, write_bot: Callable[[str], Path]) -> None:
    bot = write_bot("""
        for line in sys.stdin:
            msg = json.loads(line)
            print(json.dumps({"echo": msg["n"] * 2}), flush=True)
    """)
    with box.start(bot) as process:
        for n in range(50):
            process.channel.send({"n": n})
            assert process.channel.receive(timeout=5) == {"echo": 2 * n}
        process.channel.close_input()
        outcome = process.wait(timeout=10)
    assert outcome.ok, outcome


def test_hundred_mib_line_without_newline(box: Sandbox, write_bot: Callable[[str], Path]) -> None:
    bot = write_bot("""
        chunk = b"a" * (1 << 20)
        for _ in range(100):
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.write(b'\\n{"after": true}\\n')
        sys.stdout.flush()
    """)
    with box.start(bot) as process:
        with pytest.raises(ProtocolError) as caught:
            process.channel.receive(timeout=10)
        assert caught.value.code == ProtocolError.LINE_TOO_LONG
        assert process.channel.receive(timeout=30) == {"after": True}
        assert process.channel.bytes_received > 100 * (1 << 20)
        assert len(process.channel._buffer) <= process.channel.max_line_bytes + 1
        outcome = process.wait(timeout=30)
    assert outcome.status is Status.EXITED


def test_invalid_utf8_from_a_bot(box: Sandbox, write_bot: Callable[[str], Path]) -> None:
    bot = write_bot("""
        sys.stdout.buffer.write(b'{"name": "\\xff\\xfe"}\\n{"fine": 1}\\n')
        sys.stdout.flush()
    """)
    with box.start(bot) as process:
        items = list(process.channel)
        outcome = process.wait(timeout=10)
    assert isinstance(items[0], ProtocolError) and items[0].code == ProtocolError.INVALID_UTF8
    assert items[1:] == [{"fine": 1}]
    assert outcome.ok


def test_channel_send_to_a_bot_ignoring_stdin(box: Sandbox, write_bot: Callable[[str], Path]) -> None:
    bot = write_bot("time.sleep(60)")
    with box.start(bot, limits=box.limits.replace(wall_seconds=5)) as process:
        with pytest.raises(ProtocolError) as caught:
            for _ in range(10_000):
                process.channel.send({"x": "y" * 1000}, timeout=0.3)
        assert caught.value.code == ProtocolError.TIMEOUT
        process.kill()
        assert process.wait(timeout=10).status is Status.KILLED


def test_every_byte_of_a_large_output_arrives(box: Sandbox, write_bot: Callable[[str], Path]) -> None:
    """gVisor answers pipe writes over 64 KiB with short counts; nothing may be lost on either runtime."""
    import hashlib

    bot = write_bot("""
        import hashlib
        digest = hashlib.sha256()
        for i in range(40):  # 8 MiB in 200 KiB writes, from print and from the binary layer
            block = (str(i % 10) * (200 * 1024 - 1)) + "\\n"
            digest.update(block.encode())
            if i % 2:
                print(block, end="")
            else:
                sys.stdout.buffer.write(block.encode())
        sys.stdout.flush()
        sys.stderr.write(digest.hexdigest())
    """)
    outcome = box.run(bot, limits=box.limits.replace(stdout_bytes=16 << 20))
    assert outcome.ok, outcome
    assert len(outcome.stdout) == 40 * 200 * 1024
    assert hashlib.sha256(outcome.stdout).hexdigest() == outcome.stderr.decode()


def test_sixty_kib_protocol_lines_arrive_whole(box: Sandbox, write_bot: Callable[[str], Path]) -> None:
    bot = write_bot("""
        for n in range(50):
            print(json.dumps({"n": n, "pad": chr(97 + n % 26) * (60 * 1024 - 30)}), flush=True)
        line = sys.stdin.readline()
        print(json.dumps({"echo": len(line)}), flush=True)
    """)
    with box.start(bot) as process:
        for n in range(50):
            message = process.channel.receive(timeout=20)
            assert message == {"n": n, "pad": chr(97 + n % 26) * (60 * 1024 - 30)}
        process.channel.send({"pad": "z" * (60 * 1024)})
        assert process.channel.receive(timeout=20) == {"echo": len(b"{\"pad\":\"\"}\n") + 60 * 1024}
