"""Tick: one step of market time, carrying the books that changed at that moment."""

from __future__ import annotations

from dataclasses import dataclass

from arena.engine.book import L2Book


@dataclass(frozen=True, slots=True)
class Tick:
    ts: int  # milliseconds since the Unix epoch, UTC
    books: tuple[L2Book, ...]
