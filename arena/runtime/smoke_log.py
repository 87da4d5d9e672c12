"""A smoke test's log, bounded while it is written: a bot can produce a log entry per bad line it writes.

It keeps the first lines (where the trouble starts) and the last (how the test ended), at most ``max_lines``
lines and ``max_bytes`` bytes of UTF-8 in all, and between them one mark saying how much was left out. Memory
stays bounded however much is appended; an over-long line is cut, and says so.
"""

from __future__ import annotations

from collections import deque

MAX_LINES = 1000
MAX_BYTES = 64 * 1024
MAX_LINE_BYTES = 2048
TRUNCATED = "[log truncated: {lines} lines ({bytes} bytes) left out here]"
_MARK_ROOM = len(TRUNCATED) + 40  # the mark's bytes, numbers included
_CUT = " [line cut]"


class SmokeLog:
    def __init__(self, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> None:
        self.max_lines, self.max_bytes = max_lines, max_bytes
        self.head: list[str] = []
        self.head_bytes = 0
        self.tail: deque[tuple[str, int]] = deque()
        self.tail_bytes = 0
        self.left_out_lines = self.left_out_bytes = 0

    @classmethod
    def of(cls, text: str, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> str:
        """``text`` within the bounds (unchanged when it is)."""
        log = cls(max_lines, max_bytes)
        log.append(text)
        return log.text()

    @property
    def truncated(self) -> bool:
        return self.left_out_lines > 0

    def append(self, entry: str) -> None:
        for line in entry.split("\n"):
            self._add(_cut(line))

    def _add(self, line: str) -> None:
        size = len(line.encode()) + 1  # its newline
        # The head takes half of each bound; once anything went past it, it is closed for good.
        if not self.tail and len(self.head) < self.max_lines // 2 and self.head_bytes + size <= self.max_bytes // 2:
            self.head.append(line)
            self.head_bytes += size
            return
        self.tail.append((line, size))
        self.tail_bytes += size
        lines_left = self.max_lines - len(self.head) - 1  # one line for the mark
        bytes_left = self.max_bytes - self.head_bytes - _MARK_ROOM
        while self.tail and (len(self.tail) > lines_left or self.tail_bytes > bytes_left):
            _, dropped = self.tail.popleft()
            self.tail_bytes -= dropped
            self.left_out_lines += 1
            self.left_out_bytes += dropped

    def text(self) -> str:
        mark = [TRUNCATED.format(lines=self.left_out_lines, bytes=self.left_out_bytes)] if self.truncated else []
        return "\n".join([*self.head, *mark, *(line for line, _ in self.tail)])


def _cut(line: str) -> str:
    raw = line.encode()
    if len(raw) <= MAX_LINE_BYTES:
        return line
    return raw[: MAX_LINE_BYTES - len(_CUT)].decode("utf-8", "ignore") + _CUT
