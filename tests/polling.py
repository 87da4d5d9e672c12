"""Waiting for what another process changes: polling a condition, bounded by a deadline (never a bare sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(what: str, condition: Callable[[], T], within_s: float = 120.0, every_s: float = 0.02) -> T:
    """``condition()``'s first truthy value; AssertionError naming ``what`` if none comes within ``within_s``."""
    deadline = time.monotonic() + within_s
    while True:
        if value := condition():
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {within_s:g} s")
        time.sleep(every_s)  # polling state another process changes, bounded by the deadline
