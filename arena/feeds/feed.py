"""Feed: the protocol every market data source follows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from arena.engine.tick import Tick

# The synthetic feed's defaults, kept here so that naming them (open_feed's signature) does not import NumPy.
DEFAULT_START = 1_772_461_800_000  # 2026-03-02 14:30 UTC: a Monday, the NYSE opening bell
DEFAULT_INTERVAL_MS = 60_000
DEFAULT_TICKS = 390


@runtime_checkable
class Feed(Protocol):
    """A re-iterable source of :class:`Tick`s.

    Each ``iter(feed)`` starts from the beginning and yields the same ticks again (a replay re-reads its
    files, a synthetic feed restarts from its seed), in non-decreasing ``ts`` order. A tick carries only
    the books that changed at that moment, at most one per symbol.
    """

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols whose books this feed can carry."""
        ...

    def __iter__(self) -> Iterator[Tick]: ...

    def validate(self) -> None:
        """Check the whole source up front; raise :class:`~arena.feeds.errors.FeedError` if anything is bad.

        Callers run this before a tournament starts so that a bad source changes nothing.
        """
        ...
