"""Limit up-limit down: the volatility halts a synthetic feed applies to US equities and ETFs.

Modelled on the US LULD plan, on the feed's tick grid rather than in seconds:

* the **reference price** is the mean of the symbol's mids over the preceding five minutes of its regular
  session (no band until one such mid exists; the first after a pause starts a new window);
* the **band** is 5% of it (price above $3), 20% ($0.75 to $3), or the lesser of $0.15 and 75% below that,
  doubled in the first 15 and the last 25 minutes of the session, as the plan does;
* a mid outside the band **pauses** trading for five minutes: the books keep coming, flagged ``halted``
  (nothing trades, the engine rejects orders with ``LIQUIDITY_HALT`` and bots get ``system.status: halt``),
  and trading resumes at whatever the latent price reached meanwhile.

Only regular sessions of XNYS/XNAS equities and ETFs have bands; pre- and post-market, other venues and other
classes never halt. At the catalog's realistic volatilities a pause is rare (a 5% move in five minutes); a
tournament on a wilder instrument sees them often.
"""

from __future__ import annotations

from collections import deque

from arena.engine.instruments import AssetClass, Instrument

WINDOW_MS = 5 * 60_000
PAUSE_MS = 5 * 60_000
_OPENING_MINUTES, _CLOSING_MINUTES = 15.0, 25.0
_VENUES = frozenset({"XNYS", "XNAS"})
_CLASSES = frozenset({AssetClass.EQUITY, AssetClass.ETF})


def applies_to(inst: Instrument) -> bool:
    return inst.venue in _VENUES and inst.asset_class in _CLASSES


def band(reference: float, since_open: float, to_close: float) -> float:
    """The band's half-width in price units around ``reference``, given minutes since the open and to the close."""
    if reference > 3.0:
        width = 0.05 * reference
    elif reference >= 0.75:
        width = 0.20 * reference
    else:
        width = min(0.15, 0.75 * reference)
    if since_open < _OPENING_MINUTES or to_close < _CLOSING_MINUTES:
        width *= 2.0
    return width


class LimitUpLimitDown:
    """One symbol's LULD state: the recent mids and the end of the current pause."""

    __slots__ = ("_mids", "_sum", "paused_until")

    def __init__(self) -> None:
        self._mids: deque[tuple[int, float]] = deque()
        self._sum = 0.0
        self.paused_until = -1

    def halted(self, ts: int, mid: float, since_open: float, to_close: float) -> bool:
        """Whether the symbol is paused at ``ts`` after seeing ``mid`` in its regular session."""
        if ts < self.paused_until:
            return True
        while self._mids and self._mids[0][0] <= ts - WINDOW_MS:
            self._sum -= self._mids.popleft()[1]
        if self._mids:
            reference = self._sum / len(self._mids)
            if abs(mid - reference) > band(reference, since_open, to_close):
                self.paused_until = ts + PAUSE_MS
                self._mids.clear()
                self._sum = 0.0
                return True
        self._mids.append((ts, mid))
        self._sum += mid
        return False

    def outside_session(self) -> None:
        """Bands start afresh each regular session; a pause does not carry over a close."""
        self._mids.clear()
        self._sum = 0.0
        self.paused_until = -1
