"""Market data sources: a seeded synthetic market and CSV replay, both yielding :class:`Tick`s.

>>> feed = open_feed("synthetic:42", catalog, ["AAPL", "BTC-USD"], ticks=390)
>>> feed.validate()            # raises FeedError (code, path, line) on bad input
>>> for tick in feed: ...      # Tick(ts, books), ts non-decreasing, only the books that changed
"""

from typing import TYPE_CHECKING

from arena.feeds.errors import FeedError, FeedErrorCode
from arena.feeds.feed import DEFAULT_INTERVAL_MS, DEFAULT_START, DEFAULT_TICKS, Feed
from arena.feeds.replay import ReplayFeed
from arena.feeds.spec import SPEC_HELP, open_feed

if TYPE_CHECKING:
    from arena.feeds.synthetic import SyntheticFeed

__all__ = [
    "DEFAULT_INTERVAL_MS",
    "DEFAULT_START",
    "DEFAULT_TICKS",
    "SPEC_HELP",
    "Feed",
    "FeedError",
    "FeedErrorCode",
    "ReplayFeed",
    "SyntheticFeed",
    "open_feed",
]


def __getattr__(name: str) -> object:
    """``SyntheticFeed`` on first use: it needs NumPy, which a replay does not."""
    if name == "SyntheticFeed":
        from arena.feeds.synthetic import SyntheticFeed

        return SyntheticFeed
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
