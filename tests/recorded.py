"""A tournament's record made the way a run makes it, without sandboxes: a real engine trades for some bot keys and a
real Recorder is shown what it produced, market first, as a Tournament shows its observer."""

from __future__ import annotations

import math
import random
from datetime import date
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session, sessionmaker

from arena.catalog import load_catalog
from arena.engine.engine import Engine
from arena.engine.sessions import SessionCalendars
from arena.engine.tick import Tick
from arena.runtime.tournament import BotState, Standing
from arena.service.recorder import Recorder
from arena.store import record, tournaments
from arena.store.models import TournamentStatus
from tests.engine.builders import T0, ladder


def trade(keys: list[str], ticks: int, reject_every: int = 0) -> tuple[Engine, list[tuple[int, int, list, Any]]]:
    """A real engine trading AAPL for ``keys`` over ``ticks`` minutes (each bot alternates sides, bot i trades
    1 + i shares; with ``reject_every``, the first bot also sends an order in an unknown symbol every that many
    ticks): the engine, and what it produced, (n, ts, events, requests), as the recorder is shown it; each tick's
    first item's requests are the Tick itself (``show`` shows it to the recorder's ``market``)."""
    engine = Engine(load_catalog(), SessionCalendars.build(date(2026, 3, 1), date(2026, 3, 10)))
    for key in keys:
        engine.open_account(key, None)
    produced: list[tuple[int, int, list, Any]] = []
    for n in range(1, ticks + 1):
        ts = T0 + n * 60_000
        mid = 255.0 + 5 * math.sin(n / 7)
        book = ladder("AAPL", ts, mid - 0.01, mid + 0.01, size=100, volume=50_000)
        batch: list[tuple[str, Any]] = [
            (key, {"symbol": "AAPL", "side": "buy" if (n + i) % 2 else "sell", "qty": 1 + i,
                   "client_order_id": f"c{n}"}) for i, key in enumerate(keys)
        ]  # fmt: skip
        if reject_every and n % reject_every == 0:
            batch.append((keys[0], {"symbol": "NOPE", "side": "buy", "qty": 1, "client_order_id": f"r{n}"}))
        tick = Tick(ts, (book, ladder("MSFT", ts, 410.0, 410.02, size=50, volume=n)))
        produced.append((n, ts, engine.on_tick(tick), tick))
        produced.append((n, ts, engine.submit_batch(batch, ts, random.Random(n)), batch))
    return engine, produced


def show(recorder: Recorder, n: int, ts: int, events: list, requests: Any) -> None:
    """One item of ``trade``'s output, as a tournament shows it to its observer."""
    if isinstance(requests, Tick):
        recorder.market(n, requests)
        requests = []
    recorder.events(n, ts, events, requests)


def market_rows(sessions: sessionmaker[Session], tournament_id: int) -> list[tuple]:
    """The market on record (record.market_of), each row a tuple of its columns, the time in ms."""
    with sessions() as session:
        table = pa.Table.from_batches(list(record.market_of(session, tournament_id)), schema=record.ticks_schema())
    table = table.set_column(1, "ts", table.column("ts").cast(pa.int64()))
    return [tuple(row.values()) for row in table.to_pylist()]


def standings_of(engine: Engine, keys: list[str]) -> list[Standing]:
    accounts = engine.accounts
    ranked = sorted(keys, key=lambda k: -accounts[k].score)
    return [Standing(k, i + 1, accounts[k].score, accounts[k].nav, accounts[k].max_drawdown, "finished",
                     accounts[k].fills, accounts[k].fees_paid) for i, k in enumerate(ranked)]  # fmt: skip


def record_run(sessions: sessionmaker[Session], tournament_id: int, ticks: int, *, finish: bool = True,
               reject_every: int = 0, **recorder: Any) -> Engine:  # fmt: skip
    """Trade ``ticks`` ticks for the tournament's entries and record them; with ``finish`` the end too (standings,
    and the tournament marked finished). The engine, for its accounts."""
    with sessions.begin() as session:
        keys = sorted(tournaments.entry_map(session, tournaments.get_tournament(session, tournament_id)))
    engine, produced = trade(keys, ticks, reject_every)
    keeper = Recorder(sessions, tournament_id, **recorder)
    for item in produced:
        show(keeper, *item)
    if finish:
        keeper.finished(standings_of(engine, keys),
                        {k: BotState(k, "finished", {"status": "exited", "exit_code": 0}) for k in keys})
    keeper.close()
    assert keeper.failures == []
    if finish:
        with sessions.begin() as session:
            tournaments.transition(session, tournaments.get_tournament(session, tournament_id),
                                   TournamentStatus.FINISHED)  # fmt: skip
    return engine
