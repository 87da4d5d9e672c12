"""A smoke test's log is bounded while the bot writes it (issue 12, finding 7): a log entry per bad line made
the log grow with whatever the bot wrote (2 MB for 20,000 bad lines; ~100 MB within the test's time)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.runtime import smoke
from arena.runtime.smoke_log import MAX_BYTES, MAX_LINES

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("sandbox_runtime")]


def test_twenty_thousand_bad_lines_make_a_bounded_log_that_keeps_its_first_and_last_lines() -> None:
    result = smoke.smoke_test(ROOT / "tests/data/bots/bad_lines.py")
    assert result.ok, result.log[-2000:]
    lines = result.log.split("\n")
    assert len(lines) <= MAX_LINES and len(result.log.encode()) <= MAX_BYTES
    assert lines[0].startswith("bad line from the bot: INVALID_JSON")
    assert lines[-1] == f"answered hello and {smoke.PRACTICE_TICKS} practice ticks"
    [mark] = [line for line in lines if line.startswith("[log truncated: ")]
    left_out = int(mark.split()[2])
    assert left_out + len(lines) - 1 == 20_000 + 1  # every bad line and the verdict: kept or counted
