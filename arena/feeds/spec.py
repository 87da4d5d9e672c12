"""open_feed: turn a feed specification string (as typed on the command line) into a Feed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from arena.engine.instruments import InstrumentCatalog
from arena.feeds.errors import FeedError, FeedErrorCode
from arena.feeds.feed import DEFAULT_INTERVAL_MS, DEFAULT_START, DEFAULT_TICKS, Feed
from arena.feeds.replay import ReplayFeed

if TYPE_CHECKING:
    from arena.engine.sessions import SessionCalendars

SPEC_HELP = "'synthetic', 'synthetic:SEED' (SEED a non-negative integer) or CSV path(s) separated by commas"
_SYNTHETIC = re.compile(r"synthetic(?::(?P<seed>.*))?", re.IGNORECASE)


def open_feed(
    spec: str,
    catalog: InstrumentCatalog,
    symbols: Sequence[str] | None = None,
    *,
    start: int = DEFAULT_START,
    interval_ms: int = DEFAULT_INTERVAL_MS,
    ticks: int = DEFAULT_TICKS,
    extended_hours: bool = True,
    calendars: SessionCalendars | None = None,
) -> Feed:
    """A feed for ``spec``: ``synthetic`` (seed 0), ``synthetic:SEED``, or ``a.csv[,b.csv...]``.

    ``start``, ``interval_ms``, ``ticks`` and ``extended_hours`` shape a synthetic feed; a replay takes
    its times from the files. Nothing is read yet beyond the CSV headers: call ``validate()`` on the
    result to check every row before a run.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise FeedError(FeedErrorCode.BAD_SPEC, f"empty feed specification; expected {SPEC_HELP}")
    spec = spec.strip()
    match = _SYNTHETIC.fullmatch(spec)
    if match:
        text = match["seed"]
        if text is not None and not (text.strip().isascii() and text.strip().isdigit()):
            raise FeedError(FeedErrorCode.BAD_SPEC, f"bad seed {text!r} in {spec!r}; expected {SPEC_HELP}")
        from arena.feeds.synthetic import SyntheticFeed  # NumPy: imported only for a synthetic feed

        return SyntheticFeed(
            catalog,
            symbols,
            seed=0 if text is None else int(text),
            start=start,
            interval_ms=interval_ms,
            ticks=ticks,
            calendars=calendars,
            extended_hours=extended_hours,
        )
    paths = [p.strip() for p in spec.split(",")]
    if any(not p for p in paths):
        raise FeedError(FeedErrorCode.BAD_SPEC, f"empty path in {spec!r}; expected {SPEC_HELP}")
    if len(set(paths)) < len(paths):
        raise FeedError(FeedErrorCode.BAD_SPEC, f"a file is listed twice in {spec!r}")
    return ReplayFeed(paths, catalog, symbols, calendars)
