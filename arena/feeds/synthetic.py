"""SyntheticFeed: a seeded, session-aware random market with 10-level books.

Each symbol draws from its own generator, seeded from ``(seed, crc32(symbol))``, so a symbol's path is
the same whichever other symbols share the feed, and the same seed gives the same ticks bit for bit in
any process (given the same numpy: its ``Generator`` may change a distribution between releases).
Per update of a symbol:

* the latent mid follows geometric Brownian motion with the instrument's ``annual_volatility`` scaled to
  the tick interval over the venue's trading time per year, plus rare jumps (fat tails; the diffusion is
  shrunk so the total variance still matches the annual figure);
* the spread is ``spread_bps`` times a mean-reverting (AR(1) in log) factor, wider in the first half hour
  of a regular session and much wider in pre/post-market;
* depth follows :mod:`arena.feeds.ladder` with log-normal noise per level, thinner in pre/post-market;
* traded volume is the instrument's ``daily_volume`` spread over the session, heavier near the open and
  close, light in pre/post-market, log-normal noise; ``last`` is the touch the move went towards.

US equities and ETFs pause for five minutes when their mid leaves a limit up-limit down band
(:mod:`arena.feeds.luld`); their books say ``halted`` meanwhile.

A symbol updates only while its venue is in a session (regular, or pre/post when ``extended_hours``) and
its contract has not expired; a tick is emitted at each interval where at least one symbol updates, and
closed stretches are skipped straight to the next open.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from arena.engine.book import L2Book
from arena.engine.instruments import Instrument, InstrumentCatalog
from arena.engine.tick import Tick
from arena.feeds import ladder
from arena.feeds.calendars import build_calendars
from arena.feeds.errors import FeedError, FeedErrorCode
from arena.feeds.feed import DEFAULT_INTERVAL_MS, DEFAULT_START, DEFAULT_TICKS
from arena.feeds.luld import LimitUpLimitDown, applies_to

if TYPE_CHECKING:
    from arena.engine.sessions import SessionCalendars, VenueSchedule

_REGULAR, _PRE, _POST, _CLOSED = "regular", "pre", "post", "closed"
_DAY_MS = 86_400_000
_MINUTE_MS = 60_000

_JUMP_PROB = 0.002  # per update
_JUMP_Z = 3.090232306167813  # |z| above this has probability _JUMP_PROB
_JUMP_SCALE = 4.0  # a jump's sd in units of the per-update sd
_SPREAD_PHI = 0.9  # AR(1) coefficient of the log spread factor per update
_SPREAD_SD = 0.25  # stationary sd of the log spread factor
_DEPTH_SD = 0.35  # log-normal noise of each level's size
_VOLUME_SD = 0.5  # log-normal noise of each update's volume
_OPEN_MINUTES = 30.0  # the opening/closing stretch where spreads widen and volume is heavier
_EXT_SPREAD, _EXT_DEPTH, _EXT_VOLUME, _EXT_VOL = 3.0, 0.25, 0.08, 0.6  # pre/post-market factors

_BLOCK = 512  # updates of random numbers drawn at once per symbol
_N_SCALARS = 5  # diffusion, jump trigger, jump size, spread noise, volume noise


class _Path:
    """One symbol's state: latent mid, spread factor, last trade, and its stream of random numbers."""

    __slots__ = (
        "block",
        "depth",
        "expires",
        "gap",
        "inst",
        "last",
        "log_mid",
        "luld",
        "noise",
        "pos",
        "qd",
        "qmin",
        "rng",
        "sigma",
        "sizes",
        "spread_x",
        "symbol",
        "thin",
        "tick",
        "tick_volume",
        "venue",
    )

    def __init__(self, inst: Instrument, seed: int, interval_ms: int, volatility_halts: bool) -> None:
        self.inst = inst
        self.symbol = inst.symbol
        self.venue = inst.venue
        self.tick = inst.tick_size
        self.qd = inst.qty_decimals
        self.qmin = ladder.min_size(inst)
        self.rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([seed, zlib.crc32(inst.symbol.encode())]))
        )
        sigma = inst.annual_volatility * math.sqrt(interval_ms / ladder.session_ms_per_year(inst))
        self.sigma = sigma / math.sqrt(1.0 + _JUMP_PROB * _JUMP_SCALE**2)
        self.gap = ladder.level_gap_ticks(inst, inst.reference_price)
        top = ladder.top_size(inst)
        self.depth = np.array([top * (1.0 + ladder.LEVEL_GROWTH * k) for k in range(ladder.LEVELS)] * 2)
        day_ms = ladder.session_ms_per_day(inst)
        # The open and close stretches trade extra (on average one extra _OPEN_MINUTES each); take it
        # out of the base rate so a regular session still trades daily_volume on average.
        extra = 0.0 if inst.venue == "CRYPTO" else 2 * _OPEN_MINUTES * _MINUTE_MS
        self.tick_volume = inst.daily_volume * interval_ms / (day_ms + extra)
        self.expires = None
        if inst.expiry is not None:
            self.expires = _day_ms(inst.expiry + timedelta(days=1))
        self.log_mid = math.log(inst.reference_price)
        self.spread_x = 0.0
        self.last: float | None = inst.round_price(inst.reference_price)
        self.block: list[list[float]] = []
        self.noise = np.empty(0)
        self.sizes: list[list[float]] = []
        self.thin: list[list[float]] | None = None
        self.pos = _BLOCK
        self.luld = LimitUpLimitDown() if volatility_halts and applies_to(inst) else None

    def _refill(self) -> None:
        self.block = self.rng.standard_normal((_BLOCK, _N_SCALARS)).tolist()
        # Level sizes for the whole block at once: rounding them one by one was most of the time.
        # lognormal() takes its exp from the C library, not numpy's CPU-dependent SIMD exp, so the
        # sizes do not hinge on which vector instructions a machine has.
        noise = self.rng.lognormal(-(_DEPTH_SD**2) / 2, _DEPTH_SD, (_BLOCK, 2 * ladder.LEVELS))
        self.noise = noise * self.depth
        self.sizes = self._rounded(self.noise)
        self.thin = None
        self.pos = 0

    def _rounded(self, sizes: np.ndarray) -> list[list[float]]:
        return np.maximum(np.round(sizes, self.qd), self.qmin).tolist()

    def _thin(self, row: int) -> list[float]:
        """Pre/post-market sizes of the current block, rounded on first use."""
        if self.thin is None:
            self.thin = self._rounded(self.noise * _EXT_DEPTH)
        return self.thin[row]

    def step(self, ts: int, phase: str, since_open: float, to_close: float) -> L2Book:
        if self.pos == _BLOCK:
            self._refill()
        z = self.block[self.pos]
        self.pos += 1

        regular = phase == _REGULAR
        sigma = self.sigma if regular else self.sigma * _EXT_VOL
        move = sigma * z[0] - 0.5 * sigma * sigma
        if abs(z[1]) > _JUMP_Z:
            move += _JUMP_SCALE * self.sigma * z[2]
        self.log_mid += move
        mid = math.exp(self.log_mid)

        self.spread_x = _SPREAD_PHI * self.spread_x + _SPREAD_SD * math.sqrt(1 - _SPREAD_PHI**2) * z[3]
        spread = self.inst.spread_bps * 1e-4 * math.exp(self.spread_x - _SPREAD_SD**2 / 2)
        volume = self.tick_volume * math.exp(_VOLUME_SD * z[4] - _VOLUME_SD**2 / 2)
        if regular:
            edge = min(since_open, to_close)
            if since_open < _OPEN_MINUTES:
                spread *= 1.0 + 1.5 * (1.0 - since_open / _OPEN_MINUTES)
            if edge < _OPEN_MINUTES:
                volume *= 1.0 + 2.0 * (1.0 - edge / _OPEN_MINUTES)
        else:
            spread *= _EXT_SPREAD
            volume *= _EXT_VOLUME

        bid, ask = ladder.touch_ticks(mid, spread, self.tick)
        bid_prices = ladder.prices(bid, -self.gap, self.tick)
        ask_prices = ladder.prices(ask, self.gap, self.tick)
        sizes = self.sizes[self.pos - 1] if regular else self._thin(self.pos - 1)
        bids = tuple(zip(bid_prices, sizes[: ladder.LEVELS], strict=False))
        asks = tuple(zip(ask_prices, sizes[ladder.LEVELS :], strict=False))

        if self.luld is not None:
            if not regular:
                self.luld.outside_session()
            elif self.luld.halted(ts, mid, since_open, to_close):
                return L2Book(self.symbol, ts, bids, asks, self.last, 0.0, True)
        volume = round(volume, self.qd)
        if volume > 0:
            self.last = asks[0][0] if move >= 0 else bids[0][0]
        return L2Book(self.symbol, ts, bids, asks, self.last, volume)


def _day_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


def _ms_date(ts: int) -> date:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ts)).date()


class SyntheticFeed:
    """A seeded random market over ``symbols`` (default: the whole catalog); see the module docstring."""

    def __init__(
        self,
        catalog: InstrumentCatalog,
        symbols: Sequence[str] | None = None,
        seed: int = 0,
        start: int = DEFAULT_START,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        ticks: int = DEFAULT_TICKS,
        calendars: SessionCalendars | None = None,
        extended_hours: bool = True,
        volatility_halts: bool = True,
    ) -> None:
        for name, value, low in (("seed", seed, 0), ("interval_ms", interval_ms, 1), ("ticks", ticks, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise FeedError(FeedErrorCode.BAD_PARAMETER, f"{name} must be an integer >= {low}, got {value!r}")
        if isinstance(start, bool) or not isinstance(start, int):
            raise FeedError(FeedErrorCode.BAD_PARAMETER, f"start must be integer epoch milliseconds, got {start!r}")
        chosen = tuple(catalog) if symbols is None else tuple(dict.fromkeys(symbols))
        unknown = [s for s in chosen if s not in catalog]
        if unknown:
            raise FeedError(FeedErrorCode.UNKNOWN_SYMBOL, f"not in the instrument catalog: {', '.join(unknown)}")
        if not chosen:
            raise FeedError(FeedErrorCode.BAD_PARAMETER, "a synthetic feed needs at least one symbol")
        # A symbol quoted in another currency brings its conversion pair, which values it in USD (a ruleset whose
        # symbols do not list the pair keeps bots from trading it: its orders are SYMBOL_NOT_ALLOWED).
        chosen = catalog.with_conversions(chosen)
        self._catalog = catalog
        self._symbols = chosen
        self.seed = seed
        self.start = start
        self.interval_ms = interval_ms
        self.ticks = ticks
        self.extended_hours = extended_hours
        self.volatility_halts = volatility_halts
        self._venues = tuple(sorted({catalog[s].venue for s in chosen}))
        self._given_calendars = calendars
        self._first: tuple[dict[str, VenueSchedule], int | None] | None = None
        if calendars is not None:
            missing = [v for v in self._venues if v not in calendars]
            if missing:
                raise FeedError(FeedErrorCode.UNKNOWN_VENUE, f"no session calendar for venue(s) {', '.join(missing)}")

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    def validate(self) -> None:
        """Nothing to read; building the calendars is the one thing that can fail."""
        if self._first is None:
            self._first = self._schedules(self.start)

    def _schedules(self, ts: int) -> tuple[dict[str, VenueSchedule], int | None]:
        """The venues' schedules from ``ts`` on, and the ts up to which they are known (None: forever)."""
        if self._given_calendars is not None:
            return {v: self._given_calendars[v] for v in self._venues}, None
        # Enough calendar for the remaining ticks even if only a sixth of the time is open, plus holidays;
        # the iteration builds the next stretch if it runs past this one.
        span = self.ticks * self.interval_ms * 6 + 14 * _DAY_MS
        try:
            first = _ms_date(ts) - timedelta(days=7)
            last = _ms_date(ts + span)
        except OverflowError:
            raise FeedError(FeedErrorCode.BAD_PARAMETER, f"start {ts} is out of the calendar's range") from None
        calendars = build_calendars(first, last, self._venues)
        schedules = {v: calendars[v] for v in self._venues}
        return schedules, _day_ms(last)

    def __iter__(self) -> Iterator[Tick]:
        from arena.engine.sessions import SessionRangeError

        try:
            yield from self._ticks()
        except SessionRangeError as exc:  # calendars handed in that end before the feed does
            raise FeedError(FeedErrorCode.CALENDAR, str(exc)) from None

    def _ticks(self) -> Iterator[Tick]:
        paths = [_Path(self._catalog[s], self.seed, self.interval_ms, self.volatility_halts) for s in self._symbols]
        interval, start, extended = self.interval_ms, self.start, self.extended_hours
        if self._first is None:
            self._first = self._schedules(start)  # building is slow (~0.3 s); re-iterations reuse it
        schedules, known_until = self._first
        opened: dict[str, float] = {}  # per venue, the ts the current regular session was first seen
        ts = start
        emitted = 0
        while emitted < self.ticks and paths:
            if known_until is not None and ts >= known_until:
                schedules, known_until = self._schedules(ts)
            live = [p for p in paths if p.expires is None or ts < p.expires]
            if len(live) < len(paths):
                paths = live
                continue
            phases: dict[str, str] = {}
            edges: dict[str, tuple[float, float]] = {}
            for venue in sorted({p.venue for p in paths}):
                schedule = schedules[venue]
                phase = str(schedule.phase(ts))
                phases[venue] = phase
                if phase == _REGULAR:
                    # Stateless on purpose: a session that was already open when the feed started (or
                    # before a long interval) counts as long open, one that opened since the last grid
                    # point as just opened.
                    if str(schedule.phase(ts - interval)) != _REGULAR:
                        opened[venue] = ts
                    elif venue not in opened:
                        opened[venue] = -math.inf
                    end = schedule.session_end(ts)
                    to_close = math.inf if end is None else (end - ts) / _MINUTE_MS
                    edges[venue] = ((ts - opened[venue]) / _MINUTE_MS, to_close)
            books = []
            for path in paths:
                phase = phases[path.venue]
                if phase == _REGULAR:
                    since_open, to_close = edges[path.venue]
                    books.append(path.step(ts, phase, since_open, to_close))
                elif extended and phase != _CLOSED:
                    books.append(path.step(ts, phase, math.inf, math.inf))
            if books:
                yield Tick(ts, tuple(books))
                emitted += 1
                ts += interval
                continue
            # Everything is shut: jump to the first grid point at or after the next open.
            opens = [schedules[v].next_open(ts, extended_hours=extended) for v in phases]
            upcoming = [t for t in opens if t is not None and t > ts]
            if not upcoming:
                return
            ts = start + -(-(min(upcoming) - start) // interval) * interval
