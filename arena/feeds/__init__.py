"""Market data sources: a seeded synthetic market and CSV replay, both yielding :class:`Tick`s.

>>> feed = open_feed("synthetic:42", catalog, ["AAPL", "BTC-USD"], ticks=390)
>>> feed.validate()            # raises FeedError (code, path, line) on bad input
>>> for tick in feed: ...      # Tick(ts, books), ts non-decreasing, only the books that changed
"""

from arena.feeds.errors import FeedError, FeedErrorCode
from arena.feeds.feed import Feed
from arena.feeds.replay import ReplayFeed
from arena.feeds.spec import SPEC_HELP, open_feed
from arena.feeds.synthetic import DEFAULT_INTERVAL_MS, DEFAULT_START, DEFAULT_TICKS, SyntheticFeed

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
