"""Updates: what each account's bot is told after the engine acts — order updates, portfolio, risk.

Shared by the tournament's engine service and ``arena backtest``, so a bot sees the same messages,
in the same order, in both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from arena.engine.accounts import Account
from arena.engine.book import L2Book
from arena.engine.engine import Engine
from arena.engine.events import AccountUpdate, Event
from arena.engine.sessions import EXTENDED_HOURS_VENUES, Phase, VenueSchedule
from arena.runtime.protocol import (
    margin_warning_message,
    order_update_message,
    portfolio_message,
    system_status_message,
)

MARGIN_WARNING = 0.8  # of the leverage cap
MARGIN_REARM = 0.7  # hysteresis: warn again only after falling back under this

Outbox = dict[str, list[dict[str, Any]]]


class Updates:
    """Turns engine events into per-account bot messages and remembers whose score changed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.changed: dict[str, float] = {}  # account -> latest score, since the last take_changed()
        self._warned: set[str] = set()

    def route(self, events: list[Event], portfolio: Callable[[Account, int], Any] = portfolio_message) -> Outbox:
        """``portfolio`` makes an account's portfolio update: the message, unless the bot runs in this process and
        takes the account's figures without one (``arena backtest``)."""
        out: Outbox = defaultdict(list)
        for event in events:
            if isinstance(event, AccountUpdate):
                self.changed[event.account] = event.score
                account = self.engine.accounts[event.account]
                out[event.account].append(portfolio(account, event.ts))
                self._margin(event.account, event.ts, out)
                continue
            message = order_update_message(event)
            if message is not None:
                out[event.account].append(message)
        return out

    def _margin(self, account_id: str, ts: int, out: Outbox) -> None:
        account = self.engine.accounts[account_id]
        if account.nav <= 0:
            return
        cap = self.engine.ruleset(account.tournament).max_leverage * account.nav
        used = account.gross_exposure(self.engine.marks)
        if used >= MARGIN_WARNING * cap and account_id not in self._warned:
            self._warned.add(account_id)
            out[account_id].append(margin_warning_message(used, cap, ts, account.nav))
        elif used < MARGIN_REARM * cap:
            self._warned.discard(account_id)

    def take_changed(self) -> dict[str, float]:
        changed, self.changed = self.changed, {}
        return changed


class SessionWatch:
    """Tells every bot when a venue of the tournament opens or closes, and when trading in a symbol is halted or
    resumes (``system.status``: ``halt``, then ``open``, with the symbol)."""

    def __init__(self, engine: Engine, venues: list[str], extended_hours: bool) -> None:
        self.engine = engine
        self.venues = sorted(set(venues))
        self.extended_hours = extended_hours
        self._session: dict[str, str] = {}  # venue -> "regular", "extended" or "closed"
        self._known: dict[str, tuple[int, int]] = {}  # venue -> [from, until): its session holds all along
        self._halted: set[str] = set()

    def changes(self, ts: int, books: Iterable[L2Book] = ()) -> list[dict[str, Any]]:
        """Where the ruleset allows extended hours, a US venue's pre-market and after-hours are ``open`` with the
        reason "extended hours" (orders tagged session extended only), and its regular session ``open`` again
        with the reason "regular session"."""
        messages = []
        for venue in self.venues:
            known = self._known.get(venue)
            if known is not None and known[0] <= ts < known[1]:
                continue  # the session the venue was in at the last look, unchanged: one check instead of a lookup
            schedule = self.engine.calendars[venue]
            try:
                if isinstance(schedule, VenueSchedule):
                    phase, until = schedule.phase_until(ts)
                    self._known[venue] = (ts, until)
                    regular, extended = phase is Phase.REGULAR, phase is not Phase.CLOSED
                else:  # a calendar of another kind (a test's): asked at every tick
                    regular = schedule.is_open(ts)
                    extended = regular or (self.extended_hours and schedule.is_open(ts, True))
            except ValueError:  # outside the calendar's range
                continue
            session = "regular" if regular else "extended" if self.extended_hours and extended else "closed"
            before = self._session.get(venue)
            if before != session:
                self._session[venue] = session
                if session == "closed":
                    messages.append(system_status_message("closed", ts, venue=venue))
                else:
                    reason = None  # a venue without extended hours opens as it always did
                    if self.extended_hours and venue in EXTENDED_HOURS_VENUES:
                        reason = "extended hours" if session == "extended" else "regular session"
                    messages.append(system_status_message("open", ts, venue=venue, reason=reason))
        for book in books:
            if book.halted != (book.symbol in self._halted):
                (self._halted.add if book.halted else self._halted.discard)(book.symbol)
                status = "halt" if book.halted else "open"
                messages.append(system_status_message(status, ts, symbol=book.symbol, reason="trading halted"
                                                      if book.halted else "trading resumed"))  # fmt: skip
        return messages
