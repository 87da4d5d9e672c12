"""The record of a tournament: orders, fills, rejections, equity, standings, logs, and the market's ticks.

Writers take engine events as they come (bulk executemany inserts: a tournament makes many) and an
``entry_map`` (bot key → entry id, from ``tournaments.entry_map``). Readers page by id or ts.
``standings_scores`` rebuilds the leaderboard ZSET from the record.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import BigInteger, Float, String, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from arena.engine.book import L2Book
from arena.engine.events import AccountUpdate, Event, Fill, OrderAccepted, OrderDone, OrderRejected
from arena.engine.orders import OrderStatus
from arena.engine.tick import Tick
from arena.store.errors import InvalidValue
from arena.store.models import (
    LOG_TEXT_MAX,
    Entry,
    EquitySnapshot,
    FillRecord,
    LogLine,
    LogStream,
    OrderRecord,
    RejectionRecord,
    StandingRecord,
    TickBatch,
    Tournament,
)

if TYPE_CHECKING:
    import pyarrow as pa

LOG_LINES_MAX = 5000  # per entry; then one "log truncated" marker and nothing more
_EPS = 1e-9

_orders = OrderRecord.__table__
_fills = FillRecord.__table__
_rejections = RejectionRecord.__table__
_equity = EquitySnapshot.__table__
_standings = StandingRecord.__table__
_logs = LogLine.__table__
_ticks = TickBatch.__table__



@functools.cache
def ticks_schema() -> pa.Schema:
    """The market's columns, per symbol per tick (docs/export.md, "ticks"): as stored and as exported. pyarrow is
    imported here, not with the module: it costs a process ~70 MiB and half a second, and most that import the
    record (bot hosts, the command line) never touch the market."""
    import pyarrow as pa

    columns: list[tuple[str, pa.DataType]] = [
        ("tick", pa.int32()), ("ts", pa.timestamp("ms", tz="UTC")), ("symbol", pa.string()), ("bid", pa.float64()),
        ("bid_size", pa.float64()), ("ask", pa.float64()), ("ask_size", pa.float64()), ("last", pa.float64()),
        ("volume", pa.float64()), ("halted", pa.bool_()),
    ]  # fmt: skip
    return pa.schema(columns)

# Orders already recorded by an earlier batch: fold this batch's fills and end in, one row per order.
_UPDATE_ORDER = (
    update(_orders)
    .where(_orders.c.tournament_id == bindparam("t_id"), _orders.c.order_id == bindparam("o_id"))
    .values(
        status=bindparam("new_status", type_=String()),
        filled_qty=func.coalesce(bindparam("new_filled", type_=Float()), _orders.c.filled_qty),
        fees=_orders.c.fees + bindparam("fee_delta", type_=Float()),
        done_ts=func.coalesce(bindparam("new_done_ts", type_=BigInteger()), _orders.c.done_ts),
        reason=func.coalesce(bindparam("new_reason", type_=String()), _orders.c.reason),
    )
)


@dataclass(frozen=True)
class Recorded:
    orders: int = 0  # new order rows
    updated: int = 0  # earlier orders whose state changed
    fills: int = 0
    rejections: int = 0


class StandingLike(Protocol):
    """arena.runtime.tournament.Standing (the store does not import the runtime), read-only as it is (frozen)."""

    @property
    def bot(self) -> str: ...
    @property
    def rank(self) -> int: ...
    @property
    def score(self) -> float: ...
    @property
    def nav(self) -> float: ...
    @property
    def max_drawdown(self) -> float: ...
    @property
    def status(self) -> str: ...


def _tid(tournament: Tournament | int) -> int:
    return tournament if isinstance(tournament, int) else tournament.id


def _entry(entry_map: Mapping[str, int], account: str) -> int:
    try:
        return entry_map[account]
    except KeyError:
        raise InvalidValue(f"event for account {account!r}, which is not an entry of this tournament",
                           "UNKNOWN_ACCOUNT") from None  # fmt: skip


def record_events(
    session: Session,
    tournament: Tournament | int,
    entry_map: Mapping[str, int],
    events: Iterable[Event],
) -> Recorded:
    """Record a batch of engine events (in engine order). OrderAccepted → an order row (its side, type, tif,
    qty and prices from the order it carries), Fill → a fill row and the order's state, OrderDone → the
    order's end, OrderRejected → a rejection row; AccountUpdate is left to ``record_equity``."""
    t_id = _tid(tournament)
    new: dict[int, dict[str, Any]] = {}
    changed: dict[int, dict[str, Any]] = {}
    fills: list[dict[str, Any]] = []
    rejections: list[dict[str, Any]] = []
    for event in events:
        if type(event) is Fill:  # exact types: the cheapest dispatch on this path
            entry_id = _entry(entry_map, event.account)
            fills.append(
                {"tournament_id": t_id, "entry_id": entry_id, "order_id": event.order_id,
                 "client_order_id": event.client_order_id, "ts": event.ts, "symbol": event.symbol,
                 "side": event.side, "qty": event.qty, "price": event.price, "fee": event.fee,
                 "maker": event.maker, "filled_qty": event.filled_qty, "remaining": event.remaining,
                 "liquidation": event.liquidation}
            )  # fmt: skip
            done = event.remaining <= _EPS
            status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
            row = new.get(event.order_id)
            if row is not None:  # accepted in this batch: its row is still to be inserted
                row.update(status=status, filled_qty=event.filled_qty, fees=row["fees"] + event.fee)
                if done:
                    row["done_ts"] = event.ts
            else:
                change = changed.setdefault(event.order_id, _change(t_id, event.order_id))
                change.update(new_status=status, new_filled=event.filled_qty, fee_delta=change["fee_delta"] + event.fee)
                if done:
                    change["new_done_ts"] = event.ts
        elif type(event) is OrderAccepted:
            order = event.order
            new[event.order_id] = {
                "tournament_id": t_id, "entry_id": _entry(entry_map, event.account), "order_id": event.order_id,
                "client_order_id": event.client_order_id, "symbol": event.symbol, "ts": event.ts,
                "side": order.side, "type": order.type, "tif": order.tif, "session": order.session.value,
                "qty": order.qty,
                "limit_price": order.limit_price, "stop_price": order.stop_price,
                "status": OrderStatus.OPEN, "filled_qty": 0.0, "fees": 0.0, "done_ts": None, "reason": "",
            }  # fmt: skip
        elif type(event) is OrderDone:
            row = new.get(event.order_id)
            if row is None:
                row = changed.setdefault(event.order_id, _change(t_id, event.order_id))
                row.update(new_status=event.status, new_filled=event.filled_qty, new_done_ts=event.ts,
                           new_reason=event.reason[:255])  # fmt: skip
            else:
                row.update(status=event.status, filled_qty=event.filled_qty, done_ts=event.ts,
                           reason=event.reason[:255])  # fmt: skip
        elif type(event) is OrderRejected:
            rejections.append(
                {"tournament_id": t_id, "entry_id": _entry(entry_map, event.account), "ts": event.ts,
                 "client_order_id": event.client_order_id, "symbol": event.symbol,
                 "code": event.rejection.code.value, "message": event.rejection.message}
            )  # fmt: skip
    # Orders first: a fill's order is then always on record (same transaction either way).
    if new:
        session.execute(insert(_orders), list(new.values()))
    updates = [row for row in changed.values() if row["new_status"] is not None]
    if updates:
        session.execute(_UPDATE_ORDER, updates)
    if fills:
        session.execute(insert(_fills), fills)
    if rejections:
        session.execute(insert(_rejections), rejections)
    return Recorded(len(new), len(updates), len(fills), len(rejections))


def _change(t_id: int, order_id: int) -> dict[str, Any]:
    return {"t_id": t_id, "o_id": order_id, "new_status": None, "new_filled": None, "fee_delta": 0.0,
            "new_done_ts": None, "new_reason": None}  # fmt: skip


def record_equity(
    session: Session, tournament: Tournament | int, entry_map: Mapping[str, int], updates: Iterable[Any]
) -> int:
    """Equity snapshots from AccountUpdate events (other events in ``updates`` are skipped, so the
    engine's whole output can be passed). Returns the number of rows written."""
    t_id = _tid(tournament)
    rows = [
        {"tournament_id": t_id, "entry_id": _entry(entry_map, u.account), "ts": u.ts, "nav": u.nav,
         "drawdown": u.max_drawdown, "score": u.score}
        for u in updates
        if type(u) is AccountUpdate
    ]  # fmt: skip
    if rows:
        session.execute(insert(_equity), rows)
    return len(rows)


def record_ticks(session: Session, tournament: Tournament | int, ticks: Sequence[tuple[int, Tick]]) -> int:
    """The market of a run of whole (tick number, Tick) pairs, in one ``tick_batches`` row: per symbol whose book a
    tick carries (by symbol), the top of its book (null for an empty side), its last trade price and the volume
    traded since its previous book (``ticks_schema()``). Returns the number of symbol-ticks written."""
    rows = [(n, tick.ts, book) for n, tick in ticks for book in sorted(tick.books, key=_symbol)]
    if not rows:
        return 0
    import pyarrow as pa

    schema = ticks_schema()
    columns = [
        pa.array([n for n, _, _ in rows], pa.int32()),
        pa.array([ts for _, ts, _ in rows], pa.int64()).cast(schema.field("ts").type),
        pa.array([b.symbol for _, _, b in rows], pa.string()),
        pa.array([b.bids[0][0] if b.bids else None for _, _, b in rows], pa.float64()),
        pa.array([b.bids[0][1] if b.bids else None for _, _, b in rows], pa.float64()),
        pa.array([b.asks[0][0] if b.asks else None for _, _, b in rows], pa.float64()),
        pa.array([b.asks[0][1] if b.asks else None for _, _, b in rows], pa.float64()),
        pa.array([b.last for _, _, b in rows], pa.float64()),
        pa.array([b.volume for _, _, b in rows], pa.float64()),
        pa.array([b.halted for _, _, b in rows], pa.bool_()),
    ]
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as stream:
        stream.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
    session.execute(insert(_ticks), [{"tournament_id": _tid(tournament), "first_n": ticks[0][0],
                                      "last_n": ticks[-1][0], "rows": len(rows),
                                      "data": sink.getvalue().to_pybytes()}])  # fmt: skip
    return len(rows)


def _symbol(book: L2Book) -> str:
    return book.symbol


def market_of(session: Session, tournament: Tournament | int, batch: int = 16) -> Iterator[pa.RecordBatch]:
    """The tournament's market on record (``ticks_schema()``), in tick order, ``batch`` stored rows read at a
    time."""
    import pyarrow as pa

    query = select(_ticks.c.data).where(_ticks.c.tournament_id == _tid(tournament)).order_by(_ticks.c.first_n)
    for (data,) in session.execute(query.execution_options(yield_per=batch)):
        yield from pa.ipc.open_stream(data)


def record_standings(
    session: Session,
    tournament: Tournament | int,
    entry_map: Mapping[str, int],
    standings: Iterable[StandingLike],
    trades: Mapping[str, int] | None = None,
    fees: Mapping[str, float] | None = None,
) -> int:
    """The final standings (replacing any earlier ones: a re-run records afresh). Trades and fees per bot
    default to what the fills on record say."""
    t_id = _tid(tournament)
    if trades is None or fees is None:
        stats = trade_stats(session, t_id)
        by_key = {key: stats.get(entry_id, (0, 0.0)) for key, entry_id in entry_map.items()}
        trades = trades if trades is not None else {k: v[0] for k, v in by_key.items()}
        fees = fees if fees is not None else {k: v[1] for k, v in by_key.items()}
    rows = [
        {"tournament_id": t_id, "entry_id": _entry(entry_map, s.bot), "rank": s.rank, "score": s.score,
         "nav": s.nav, "max_drawdown": s.max_drawdown, "status": s.status[:32], "trades": trades.get(s.bot, 0),
         "fees": fees.get(s.bot, 0.0)}
        for s in standings
    ]  # fmt: skip
    session.execute(delete(_standings).where(_standings.c.tournament_id == t_id))
    if rows:
        session.execute(insert(_standings), rows)
    return len(rows)


def trade_stats(session: Session, tournament: Tournament | int) -> dict[int, tuple[int, float]]:
    """entry id → (fills, fees paid), from the fills on record."""
    rows = session.execute(
        select(_fills.c.entry_id, func.count(), func.coalesce(func.sum(_fills.c.fee), 0.0))
        .where(_fills.c.tournament_id == _tid(tournament))
        .group_by(_fills.c.entry_id)
    )
    return {entry_id: (int(count), float(total)) for entry_id, count, total in rows}


def standings_scores(session: Session, tournament: Tournament | int) -> dict[str, float]:
    """bot key → score, to rebuild the leaderboard ZSET (``Leaderboard.rebuild``): the final standings
    when there are any, else each entry's latest equity snapshot (a tournament still running)."""
    t_id = _tid(tournament)
    final = session.execute(
        select(Entry.bot_key, _standings.c.score)
        .join(Entry, Entry.id == _standings.c.entry_id)
        .where(_standings.c.tournament_id == t_id)
    ).all()
    if final:
        return {key: float(score) for key, score in final}
    latest = (
        select(func.max(_equity.c.id).label("id")).where(_equity.c.tournament_id == t_id).group_by(_equity.c.entry_id)
    ).subquery()
    rows = session.execute(
        select(Entry.bot_key, _equity.c.score)
        .join(latest, latest.c.id == _equity.c.id)
        .join(Entry, Entry.id == _equity.c.entry_id)
    )
    return {key: float(score) for key, score in rows}


# -- readers ------------------------------------------------------------------------------


def standings_of(session: Session, tournament: Tournament | int) -> list[StandingRecord]:
    return list(
        session.scalars(
            select(StandingRecord)
            .where(StandingRecord.tournament_id == _tid(tournament))
            .order_by(StandingRecord.rank, StandingRecord.entry_id)
        )
    )


def equity_curve(
    session: Session, entry_id: int, after_ts: int | None = None, limit: int = 10_000, until_ts: int | None = None
) -> list[Any]:
    """(ts, nav, drawdown, score) rows in time order (after ``after_ts``, up to ``until_ts`` included)."""
    query = select(_equity.c.ts, _equity.c.nav, _equity.c.drawdown, _equity.c.score).where(
        _equity.c.entry_id == entry_id
    )
    if after_ts is not None:
        query = query.where(_equity.c.ts > after_ts)
    if until_ts is not None:
        query = query.where(_equity.c.ts <= until_ts)
    return list(session.execute(query.order_by(_equity.c.ts, _equity.c.id).limit(limit)))


def fills_of(session: Session, entry_id: int, after_id: int = 0, limit: int = 500) -> list[FillRecord]:
    return list(
        session.scalars(
            select(FillRecord)
            .where(FillRecord.entry_id == entry_id, FillRecord.id > after_id)
            .order_by(FillRecord.id)
            .limit(limit)
        )
    )


def orders_of(session: Session, entry_id: int, after_id: int = 0, limit: int = 500) -> list[OrderRecord]:
    return list(
        session.scalars(
            select(OrderRecord)
            .where(OrderRecord.entry_id == entry_id, OrderRecord.id > after_id)
            .order_by(OrderRecord.id)
            .limit(limit)
        )
    )


def rejections_of(session: Session, entry_id: int, after_id: int = 0, limit: int = 500) -> list[RejectionRecord]:
    return list(
        session.scalars(
            select(RejectionRecord)
            .where(RejectionRecord.entry_id == entry_id, RejectionRecord.id > after_id)
            .order_by(RejectionRecord.id)
            .limit(limit)
        )
    )


# -- logs ---------------------------------------------------------------------------------


def append_logs(
    session: Session, entry_id: int, lines: Iterable[tuple[LogStream | str, str]], cap: int = LOG_LINES_MAX
) -> int:
    """Append (stream, text) lines to the entry's log, each cut to LOG_TEXT_MAX characters, at most ``cap``
    lines per entry in all (then one system line saying the log was truncated). Returns lines written."""
    have = session.scalar(select(func.count()).select_from(_logs).where(_logs.c.entry_id == entry_id)) or 0
    room = cap - have
    if room <= 0:
        return 0
    batch = list(lines)
    if len(batch) > room:  # keep the first lines: the start of a failure usually explains it
        batch = [*batch[: room - 1], (LogStream.SYSTEM, f"log truncated at {cap} lines")]
    rows = [
        {"entry_id": entry_id, "stream": LogStream(stream),
         "text": text if len(text) <= LOG_TEXT_MAX else text[: LOG_TEXT_MAX - 12] + " [truncated]"}
        for stream, text in batch
    ]  # fmt: skip
    if rows:
        session.execute(insert(LogLine), rows)  # ORM insert: the ts default (utcnow) applies
    return len(rows)


def logs_of(
    session: Session, entry_id: int, after_id: int = 0, limit: int = 500, stream: LogStream | None = None
) -> list[LogLine]:
    query = select(LogLine).where(LogLine.entry_id == entry_id, LogLine.id > after_id)
    if stream is not None:
        query = query.where(LogLine.stream == stream)
    return list(session.scalars(query.order_by(LogLine.id).limit(limit)))
