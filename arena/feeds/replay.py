"""ReplayFeed: ticks from CSV files of quotes or OHLCV bars, merged in time order.

How rows become books:

* A quote row gives the touch as recorded; nine deeper levels are invented one tick apart on each
  side, each showing 80% of the level before it. Decaying (rather than the growing depth of the
  synthetic feed) on purpose: nothing behind a recorded touch is known, so the replay never shows more
  liquidity near the touch than the data did.
* A daily bar (date-only ``ts``) gives two ticks: at the venue's regular open with ``last = open`` and
  one minute before the regular close with ``last = close``, each with half the bar's volume. The book
  is centred on that price at the instrument's ``spread_bps``, with :mod:`arena.feeds.ladder` depth
  sized from the bar's own volume. A date on which the venue has no session is an error.
* An intraday bar (date-time ``ts``) gives one tick at ``ts`` priced at the close, depth from the
  instrument's ``daily_volume``.

Quote files stream and must be in non-decreasing time order; bar files are read whole and sorted
(they are small, and real ones come grouped by symbol or newest first), so their books within a tick
come in symbol order. Rows with the same ``ts`` form one tick; if one symbol appears twice at one
``ts``, the later row's book wins and the volumes add up. Files merge by ``ts``, ties broken by file
order then row order, so the result is deterministic.

Reading runs one row ahead, so a bad row raises :class:`FeedError` before the tick holding the row
before it is handed out;
:meth:`ReplayFeed.validate` reads everything first so a bad file can be refused before a run starts.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, repeat
from operator import add, attrgetter, itemgetter, lt
from pathlib import Path
from typing import TYPE_CHECKING

from arena import collector
from arena.engine.book import L2Book
from arena.engine.instruments import InstrumentCatalog
from arena.engine.tick import Tick
from arena.feeds import ladder
from arena.feeds.calendars import calendars_around
from arena.feeds.csvfile import BarRow, CsvFile, QuoteRow
from arena.feeds.errors import FeedError, FeedErrorCode

if TYPE_CHECKING:
    from arena.engine.sessions import SessionCalendars

DEPTH_DECAY = 0.8  # each invented level behind a recorded quote shows this share of the one before
_DAY_MS = 86_400_000
_CLOSE_LEAD_MS = 60_000  # a daily bar's close tick comes this long before the regular close

Event = tuple[int, int, int, L2Book]  # (ts, file index, order within the file, book)
# A BarRow's fields, for map(), and an event's.
_TS, _DAY, _SYMBOL, _OPEN, _CLOSE, _VOLUME = map(attrgetter, ("ts", "day", "inst.symbol", "open", "close", "volume"))
_EVENT_TS, _EVENT_BOOK = itemgetter(0), itemgetter(3)


class ReplayFeed:
    """Ticks replayed from one or more CSV files; see the module docstring."""

    def __init__(
        self,
        paths: Sequence[str | Path],
        catalog: InstrumentCatalog,
        symbols: Sequence[str] | None = None,
        calendars: SessionCalendars | None = None,
    ) -> None:
        if not paths:
            raise FeedError(FeedErrorCode.BAD_SPEC, "a replay needs at least one CSV file")
        wanted = None
        if symbols is not None:
            if not symbols:
                raise FeedError(FeedErrorCode.BAD_PARAMETER, "an empty list of symbols; pass None for all")
            unknown = [s for s in symbols if s not in catalog]
            if unknown:
                raise FeedError(FeedErrorCode.UNKNOWN_SYMBOL, f"not in the instrument catalog: {', '.join(unknown)}")
            # A symbol quoted in another currency brings its conversion pair, which values it in USD.
            symbols = catalog.with_conversions(symbols)
            wanted = frozenset(symbols)
        self._catalog = catalog
        self._files = [CsvFile(p, catalog, wanted) for p in paths]
        self._symbols = None if symbols is None else tuple(symbols)
        self._calendars = calendars

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(f.path for f in self._files)

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols asked for, else every symbol in the files (found by reading them once)."""
        if self._symbols is None:
            self.validate()
        assert self._symbols is not None
        return self._symbols

    def validate(self) -> None:
        self._check_found(book.symbol for _, _, _, book in self._events())

    def read(self) -> list[Tick]:
        """Every tick, checked as :meth:`validate` checks them, from one reading of the files: for a caller that needs
        them all before it starts (a backtest), instead of ``validate()`` and then reading them again."""
        ticks = list(self)
        self._check_found(book.symbol for tick in ticks for book in tick.books)
        return ticks

    def _check_found(self, symbols: Iterable[str]) -> None:
        """The checks of the files as a whole, given the symbols found in them in order."""
        seen = dict.fromkeys(symbols)
        for symbol in seen:
            pair = self._catalog[symbol].conversion
            if pair is not None and pair not in seen:
                currency = self._catalog[symbol].currency
                raise FeedError(
                    FeedErrorCode.NO_CONVERSION_DATA,
                    f"{symbol} is quoted in {currency}, but the files have no rows for {pair}, which converts "
                    f"{currency} to the USD account; add {pair}'s quotes or bars",
                )
        if self._symbols is None:
            self._symbols = tuple(sorted(seen))

    def __iter__(self) -> Iterator[Tick]:
        if len(self._files) == 1 and self._files[0].kind == "bars":
            # Read whole and sorted in any case: its ticks are made at once too when the first is asked for, then
            # handed out by chain's C loop rather than a generator's.
            return chain.from_iterable(map(self._bar_file_ticks, self._files))
        return _ticks(self._events())

    def _bar_file_ticks(self, file: CsvFile) -> list[Tick]:
        with collector.paused():
            return _bar_ticks(self._bar_books(file))

    def _events(self) -> Iterator[Event]:
        streams = [
            self._quote_events(i, f) if f.kind == "quotes" else self._bar_events(i, f)
            for i, f in enumerate(self._files)
        ]
        if len(streams) == 1:
            return streams[0]  # already in (ts, file, order) order: nothing to merge
        return heapq.merge(*streams, key=lambda event: event[:3])

    # -- quotes ---------------------------------------------------------------------------------------

    @staticmethod
    def _quote_events(index: int, file: CsvFile) -> Iterator[Event]:
        for row in file.rows():
            if isinstance(row, QuoteRow):
                yield row.ts, index, row.line, quote_book(row)

    # -- bars -----------------------------------------------------------------------------------------

    def _bar_events(self, index: int, file: CsvFile) -> Iterator[Event]:
        with collector.paused():
            events = self._bar_books(file)
        yield from [(ts, index, seq, book) for seq, (ts, _, _, book) in enumerate(events)]

    def _bar_books(self, file: CsvFile) -> list[tuple[int, str, int, L2Book]]:
        """Every book of a bar file as (ts, symbol, order within the file, book), in time and symbol order."""
        bars = [row for row in file.rows() if isinstance(row, BarRow)]
        _check_unique(file, bars)
        # Sorted as plain tuples: the order within the file is unique, so books are never compared.
        events: list[tuple[int, str, int, L2Book]] = []
        daily = [bar for bar in bars if bar.day is not None]
        sessions = self._daily_sessions(file, daily) if daily else {}
        instruments = {bar.inst.symbol: bar.inst for bar in bars}
        ladders = {s: ladder.Ladder(inst, inst.spread_bps * 1e-4) for s, inst in instruments.items()}
        for bar in bars:
            if bar.day is None:  # an intraday bar: the instrument's typical depth around its close
                books = ladders[bar.inst.symbol]
                book = books.book(bar.ts, bar.close, books.typical_sizes(), bar.close, bar.volume)
                events.append((bar.ts, bar.inst.symbol, 2 * bar.line, book))
        for symbol, run in _by_symbol(daily, len(instruments)).items():
            # Column by column: the books of a symbol's daily bars in one call, the events made by zip.
            times = sessions[instruments[symbol].venue]
            opens_at, closes_at = zip(*map(times.__getitem__, map(_TS, run)), strict=True)
            openings, closings = ladders[symbol].day_books(opens_at, closes_at, map(_OPEN, run), map(_CLOSE, run),
                                                           map(_VOLUME, run))  # fmt: skip
            twice = [2 * bar.line for bar in run]  # the open's place in the file's order, the close's just after
            events += zip(opens_at, repeat(symbol, len(run)), twice, openings, strict=True)
            events += zip(closes_at, repeat(symbol, len(run)), map(add, twice, repeat(1)), closings, strict=True)
        # By time, then symbol: a bar file replays the same whatever order its rows come in.
        events.sort()
        return events

    def _daily_sessions(self, file: CsvFile, daily: list[BarRow]) -> dict[str, dict[int, tuple[int, int]]]:
        """Venue -> day's 00:00 UTC -> (regular open, one minute before the regular close), for each bar's day."""
        venues = sorted({bar.inst.venue for bar in daily})
        calendars = self._calendars
        if calendars is None:  # the range a backtest of these bars asks for too: it then finds them built
            days = list(map(_DAY, daily))  # none is None: daily bars
            calendars = calendars_around(min(days), max(days), venues, file.path)
        out: dict[str, dict[int, tuple[int, int]]] = {}
        complete = True
        try:  # each venue's days at once
            for venue in venues:
                on_venue = daily if len(venues) == 1 else [bar for bar in daily if bar.inst.venue == venue]
                found = calendars[venue].regular_days(map(_TS, on_venue))
                out[venue] = _tick_times(found)
                complete = complete and len(out[venue]) == len(found)
        except (KeyError, ValueError, OverflowError):  # given calendars too short or lacking: told below
            complete = False
        if complete:
            return out
        for bar in daily:  # what was not found, bar by bar in the file's order, so that the first at fault is named
            venue = bar.inst.venue
            if bar.ts in out.get(venue, ()):
                continue
            try:
                times = _tick_times(calendars[venue].regular_days([bar.ts]))
            except (KeyError, ValueError, OverflowError) as exc:
                raise FeedError(FeedErrorCode.CALENDAR, str(exc), file.path, bar.line) from None
            if not times:
                raise FeedError(
                    FeedErrorCode.NOT_A_SESSION,
                    f"{venue} ({bar.inst.symbol}'s venue) has no regular session on {bar.day}",
                    file.path,
                    bar.line,
                )
            out.setdefault(venue, {}).update(times)
        return out


def _by_symbol(bars: list[BarRow], symbols: int) -> dict[str, list[BarRow]]:
    """``bars`` by symbol, each in the file's order, given how many symbols there are."""
    if symbols == 1 and bars:
        return {bars[0].inst.symbol: bars}
    runs: dict[str, list[BarRow]] = {}
    for bar in bars:
        runs.setdefault(bar.inst.symbol, []).append(bar)
    return runs


def _check_unique(file: CsvFile, bars: list[BarRow]) -> None:
    """One bar per symbol and time: the first repeated one (in the file's order) is an error."""
    if len(set(zip(map(_TS, bars), map(_SYMBOL, bars), strict=True))) == len(bars):
        return
    seen: dict[tuple[int, str], int] = {}
    for bar in bars:
        first = seen.setdefault((bar.ts, bar.inst.symbol), bar.line)
        if first != bar.line:
            raise FeedError(
                FeedErrorCode.DUPLICATE_ROW,
                f"a second {bar.inst.symbol} bar for the same time (the first is on line {first})",
                file.path,
                bar.line,
            )


def _tick_times(sessions: dict[int, tuple[int, int] | None]) -> dict[int, tuple[int, int]]:
    """Day -> a daily bar's two ticks, given day -> its regular session ``(open, close)`` (days without one left out):
    the open, and a minute before the close (just after the open in a session shorter than that)."""
    lead = _CLOSE_LEAD_MS
    return {day: (s[0], max(s[1] - lead, s[0] + 1)) for day, s in sessions.items() if s is not None}


def _bar_ticks(events: list[tuple[int, str, int, L2Book]]) -> list[Tick]:
    """The ticks of a bar file's sorted events: one each, made at once, when no two share a moment (one symbol's
    bars); else as _ticks gathers them."""
    times = list(map(_EVENT_TS, events))
    if all(map(lt, times, times[1:])):
        return list(map(Tick, times, zip(map(_EVENT_BOOK, events))))  # zip: each book in a tuple of one
    return list(_ticks(events))


def _ticks(events: Iterable[tuple[int, object, int, L2Book]]) -> Iterator[Tick]:
    """The ticks of time-ordered (ts, ..., book) events: the books of one moment, gathered by hand rather than with
    itertools.groupby, as most moments hold one book."""
    ts = 0
    changed: list[L2Book] = []
    for event in events:
        if changed and event[0] == ts:
            changed.append(event[3])
            continue
        if changed:
            yield Tick(ts, (changed[0],)) if len(changed) == 1 else _combined(ts, changed)
        ts, changed = event[0], [event[3]]
    if changed:
        yield Tick(ts, (changed[0],)) if len(changed) == 1 else _combined(ts, changed)


def _combined(ts: int, changed: list[L2Book]) -> Tick:
    """The tick of several books at one moment: one book per symbol, the later one's, the volumes added up."""
    books: dict[str, L2Book] = {}
    for book in changed:
        earlier = books.pop(book.symbol, None)
        if earlier is not None and earlier.volume:
            book = L2Book(book.symbol, ts, book.bids, book.asks, book.last, book.volume + earlier.volume, book.halted)
        books[book.symbol] = book
    return Tick(ts, tuple(books.values()))


def quote_book(row: QuoteRow) -> L2Book:
    """The recorded touch, and invented levels one tick apart behind it, each 80% of the one before."""
    inst = row.inst
    tick, qd, smallest = inst.tick_size, inst.qty_decimals, ladder.min_size(inst)
    bid_prices = ladder.prices(round(row.bid / tick), -1, tick)
    ask_prices = ladder.prices(round(row.ask / tick), 1, tick)
    bid_sizes = ladder.sizes(row.bid_size, DEPTH_DECAY, qd, smallest)
    ask_sizes = ladder.sizes(row.ask_size, DEPTH_DECAY, qd, smallest)
    bids = tuple(zip(bid_prices, bid_sizes, strict=False))
    asks = tuple(zip(ask_prices, ask_sizes, strict=False))
    return L2Book(inst.symbol, row.ts, bids, asks, row.last, row.volume, row.halted)
