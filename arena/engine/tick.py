"""Tick: one step of market time, carrying the books that changed at that moment."""

from __future__ import annotations

from dataclasses import dataclass

from arena.engine.book import L2Book


@dataclass(frozen=True, slots=True, init=False)
class Tick:
    ts: int  # milliseconds since the Unix epoch, UTC
    books: tuple[L2Book, ...]

    def __init__(self, ts: int, books: tuple[L2Book, ...]) -> None:
        # The dataclass's __init__ written out, so that mypyc compiles it (see L2Book.__init__).
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "books", books)
