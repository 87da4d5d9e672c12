"""Export a tournament's record as files a notebook reads: Parquet (one file per table) or CSV.

Tables (``TABLES``; their columns, types and units are ``SCHEMAS``, described in docs/export.md): ``ticks`` (the
market: the top of each symbol's book per tick), ``orders``, ``fills``, ``rejections``, ``equity`` (the sampled
curve) and ``standings``, plus ``manifest.json`` (what was exported, and how many rows of each).

Each table is read in batches of ``BATCH_ROWS`` (a server-side cursor on PostgreSQL) and each batch is written as it
comes, so memory stays bounded whatever the tournament's size; the market is stored as Arrow batches of a few
thousand rows already (``record.record_ticks``), copied as they are. Times are the simulated clock's, exported as UTC
timestamps in milliseconds; a bot is its key, ``<contestant>:<bot>``.

``Scope`` says whose rows go out: the whole record, or some entries only (a contestant's own bots). The market is
the same for every entry, so ``ticks`` always goes out whole.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, get_args

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from arena.store import record
from arena.store.errors import InvalidValue, NotFound
from arena.store.models import (
    Entry,
    EquitySnapshot,
    FillRecord,
    OrderRecord,
    RejectionRecord,
    StandingRecord,
    TickBatch,
    Tournament,
)

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow is imported where an export runs, not with this module: the API imports it at start-up, and pyarrow costs
# a process ~70 MiB and half a second.

Format = Literal["parquet", "csv"]
FORMATS: tuple[Format, ...] = ("parquet", "csv")
Table = Literal["ticks", "orders", "fills", "rejections", "equity", "standings"]
TABLES: tuple[Table, ...] = get_args(Table)
BATCH_ROWS = 16_384  # rows read and written at a time: the export's memory is a few of these batches
EXPORT_VERSION = 1  # manifest.json says it; it changes when a column changes meaning or goes away

SNAPSHOT = {"postgresql": {"isolation_level": "REPEATABLE READ"}}  # execution options per dialect (see export)

Kind = Literal["int32", "int64", "float64", "string", "bool", "ts", "bot"]
I32, I64, F64, STR, BOOL, TS, BOT = get_args(Kind)  # ts: UTC milliseconds; bot: a dictionary-encoded string


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    unit: str  # for docs/export.md (a test checks each column is described there)


def _c(name: str, kind: Kind, unit: str = "") -> Column:
    return Column(name, kind, unit)


def arrow_type(kind: Kind) -> pa.DataType:
    import pyarrow as pa

    types: dict[str, pa.DataType] = {
        "int32": pa.int32(), "int64": pa.int64(), "float64": pa.float64(), "string": pa.string(), "bool": pa.bool_(),
        "ts": pa.timestamp("ms", tz="UTC"), "bot": pa.dictionary(pa.int32(), pa.string()),
    }  # fmt: skip
    return types[kind]

# Column order is the files' order. "bot" comes from the row's entry; every other column is the record's own.
SCHEMAS: dict[str, tuple[Column, ...]] = {
    "ticks": (  # record.ticks_schema(): stored as exported (a test checks they agree)
        _c("tick", I32, "tick number, from 1"), _c("ts", TS, "simulated time, UTC"), _c("symbol", STR),
        _c("bid", F64, "price"), _c("bid_size", F64, "units"), _c("ask", F64, "price"), _c("ask_size", F64, "units"),
        _c("last", F64, "price"), _c("volume", F64, "units"), _c("halted", BOOL),
    ),
    "orders": (
        _c("bot", BOT), _c("order_id", I64), _c("client_order_id", STR), _c("symbol", STR), _c("side", STR),
        _c("type", STR), _c("tif", STR), _c("session", STR), _c("qty", F64, "units"), _c("limit_price", F64, "price"),
        _c("stop_price", F64, "price"), _c("status", STR), _c("filled_qty", F64, "units"),
        _c("fees", F64, "account currency"), _c("ts", TS, "simulated time, UTC"),
        _c("done_ts", TS, "simulated time, UTC"), _c("reason", STR),
    ),
    "fills": (
        _c("bot", BOT), _c("order_id", I64), _c("client_order_id", STR), _c("ts", TS, "simulated time, UTC"),
        _c("symbol", STR), _c("side", STR), _c("qty", F64, "units"), _c("price", F64, "price"),
        _c("fee", F64, "account currency"), _c("maker", BOOL), _c("filled_qty", F64, "units"),
        _c("remaining", F64, "units"), _c("liquidation", BOOL),
    ),
    "rejections": (
        _c("bot", BOT), _c("ts", TS, "simulated time, UTC"), _c("client_order_id", STR), _c("symbol", STR),
        _c("code", STR), _c("message", STR),
    ),
    "equity": (
        _c("bot", BOT), _c("ts", TS, "simulated time, UTC"), _c("nav", F64, "account currency"),
        _c("max_drawdown", F64, "fraction"), _c("score", F64),
    ),
    "standings": (
        _c("bot", BOT), _c("rank", I32), _c("score", F64), _c("nav", F64, "account currency"),
        _c("max_drawdown", F64, "fraction"), _c("status", STR), _c("trades", I64, "fills"),
        _c("fees", F64, "account currency"),
    ),
}  # fmt: skip


MODELS: dict[str, Any] = {"ticks": TickBatch, "orders": OrderRecord, "fills": FillRecord,
                          "rejections": RejectionRecord, "equity": EquitySnapshot, "standings": StandingRecord}


@dataclass(frozen=True)
class Scope:
    """Whose rows: every entry's (``entries`` None), or only these entries' (ids)."""

    entries: frozenset[int] | None = None

    @property
    def whole(self) -> bool:
        return self.entries is None


@dataclass
class Exported:
    tournament: str
    format: Format
    rows: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)  # the tables' files, then manifest.json


def check_format(value: str) -> Format:
    if value not in FORMATS:
        raise InvalidValue(f"unknown export format {value!r}; expected one of {', '.join(FORMATS)}", "BAD_FORMAT")
    return value


def find_tournament(session: Session, slug: str) -> Tournament:
    t = session.scalar(select(Tournament).where(Tournament.slug == slug))
    if t is None:
        raise NotFound(f"no tournament {slug!r}", "UNKNOWN_TOURNAMENT")
    return t


def entries_in(session: Session, tournament_id: int, scope: Scope) -> list[tuple[int, str]]:
    """(entry id, bot key) of the scope's entries, by id."""
    rows = session.execute(select(Entry.id, Entry.bot_key).where(Entry.tournament_id == tournament_id)
                           .order_by(Entry.id))  # fmt: skip
    return [(i, k) for i, k in rows if scope.entries is None or i in scope.entries]


def count_rows(session: Session, tournament_id: int, scope: Scope) -> int:
    """How many rows an export of ``scope`` would hold, over every table (each count one indexed scan)."""
    ids = [i for i, _ in entries_in(session, tournament_id, scope)]
    total = 0
    total = session.scalar(select(func.coalesce(func.sum(TickBatch.rows), 0))
                           .where(TickBatch.tournament_id == tournament_id)) or 0  # fmt: skip
    for name, model in MODELS.items():
        if name != "ticks":
            total += session.scalar(select(func.count()).select_from(model).where(model.entry_id.in_(ids))) or 0
    return total


# -- reading --------------------------------------------------------------------------------------------------


def _queries(t_id: int, entries: Sequence[int]) -> dict[str, Select[*tuple[Any, ...]]]:
    """Each entry-level table's rows, in the order of its columns (``bot`` as the entry id), in a stable order, read
    by entry (their (entry_id, ts) indexes). The market is stored as Arrow already (``record.market_of``)."""
    o, f, r, e, s = OrderRecord, FillRecord, RejectionRecord, EquitySnapshot, StandingRecord
    return {
        "orders": select(o.entry_id, o.order_id, o.client_order_id, o.symbol, o.side, o.type, o.tif, o.session, o.qty,
                         o.limit_price, o.stop_price, o.status, o.filled_qty, o.fees, o.ts, o.done_ts, o.reason)
        .where(o.tournament_id == t_id, o.entry_id.in_(entries)).order_by(o.order_id),
        "fills": select(f.entry_id, f.order_id, f.client_order_id, f.ts, f.symbol, f.side, f.qty, f.price, f.fee,
                        f.maker, f.filled_qty, f.remaining, f.liquidation)
        .where(f.tournament_id == t_id, f.entry_id.in_(entries)).order_by(f.id),
        "rejections": select(r.entry_id, r.ts, r.client_order_id, r.symbol, r.code, r.message)
        .where(r.entry_id.in_(entries)).order_by(r.id),
        "equity": select(e.entry_id, e.ts, e.nav, e.drawdown, e.score)
        .where(e.entry_id.in_(entries)).order_by(e.entry_id, e.ts, e.id),
        "standings": select(s.entry_id, s.rank, s.score, s.nav, s.max_drawdown, s.status, s.trades, s.fees)
        .where(s.tournament_id == t_id, s.entry_id.in_(entries)).order_by(s.rank, s.entry_id),
    }  # fmt: skip


def _batches(session: Session, query: Select[*tuple[Any, ...]], columns: tuple[Column, ...],
             bots: _Bots) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """The query's rows as record batches, read on the session's own connection (its transaction) with the
    driver's cursor: SQLAlchemy's row objects would cost more than all the rest (a server-side cursor on
    PostgreSQL, so the rows are not all fetched at once). Its parameters are the record's own integers, rendered
    inline."""
    import pyarrow as pa

    connection = session.connection()
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor(name="arena_export") if connection.dialect.name == "postgresql" else driver.cursor()
    schema = arrow_schema(columns)
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(BATCH_ROWS):
            values = list(zip(*rows, strict=True))
            arrays = [_array(column, values[i], bots) for i, column in enumerate(columns)]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)
    finally:
        cursor.close()


def _array(column: Column, values: Sequence[Any], bots: _Bots) -> pa.Array:
    import pyarrow as pa

    if column.kind == BOT:
        return bots.keys_of(pa.array(values, pa.int64()))
    if column.kind == TS:
        return pa.array(values, pa.int64()).cast(arrow_type(TS))
    if column.kind == BOOL and not isinstance(values[0], bool):  # SQLite answers 0 and 1
        return pa.array(values, pa.int8()).cast(pa.bool_())
    return pa.array(values, arrow_type(column.kind))


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(c.name, arrow_type(c.kind)) for c in columns])


@dataclass(frozen=True)
class _Bots:
    """Entry ids → bot keys, as a dictionary-encoded column (each key stored once per batch)."""

    ids: pa.Array
    keys: pa.Array

    def keys_of(self, entry_ids: pa.Array) -> pa.Array:
        import pyarrow as pa
        import pyarrow.compute as pc

        return pa.DictionaryArray.from_arrays(pc.index_in(entry_ids, value_set=self.ids).cast(pa.int32()), self.keys)


# -- writing --------------------------------------------------------------------------------------------------


class _Writer:
    """One table's file. Parquet gathers small batches (the market's) into row groups of about ``BATCH_ROWS``."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: Format) -> None:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        self.fmt, self.schema = fmt, schema
        self._held: list[pa.RecordBatch] = []
        self._rows = 0
        if fmt == "parquet":
            self._parquet = pq.ParquetWriter(path, schema, compression="zstd")
        else:
            self._csv = pacsv.CSVWriter(path, schema)

    def write(self, batch: pa.RecordBatch) -> None:
        if self.fmt == "csv":
            self._csv.write_batch(batch)
            return
        self._held.append(batch)
        self._rows += batch.num_rows
        if self._rows >= BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._held:
            self._parquet.write_table(pa.Table.from_batches(self._held, schema=self.schema))
            self._held, self._rows = [], 0

    def close(self) -> None:
        if self.fmt == "csv":
            self._csv.close()
            return
        try:
            self._flush()
        finally:
            self._parquet.close()


def export(
    sessions: sessionmaker[Session],
    slug: str,
    out: Path,
    fmt: str = "parquet",
    scope: Scope = Scope(),
    tables: Sequence[str] = TABLES,
) -> Exported:
    """Write tournament ``slug``'s record (``scope``'s rows of it) into the folder ``out`` (made if missing): one
    file per table, ``<table>.parquet`` or ``<table>.csv``, and ``manifest.json``. Reads in one transaction, so
    the files agree with each other even while the tournament runs. Raises NotFound (UNKNOWN_TOURNAMENT) and
    InvalidValue (BAD_FORMAT, UNKNOWN_TABLE) before writing anything."""
    import pyarrow as pa

    kind = check_format(fmt)
    unknown = [name for name in tables if name not in SCHEMAS]
    if unknown:
        raise InvalidValue(f"unknown table(s) {', '.join(map(repr, unknown))}; the tables are {', '.join(TABLES)}",
                           "UNKNOWN_TABLE")  # fmt: skip
    with sessions() as session:
        # One snapshot for every table: SQLite's transaction is one already; PostgreSQL's default (read committed)
        # would let a running tournament's new rows into later tables and not earlier ones.
        session.connection(execution_options=SNAPSHOT.get(session.get_bind().dialect.name, {}))
        t = find_tournament(session, slug)
        entries = entries_in(session, t.id, scope)
        bots = _Bots(pa.array([i for i, _ in entries], pa.int64()), pa.array([k for _, k in entries], pa.string()))
        queries = _queries(t.id, [i for i, _ in entries])
        done = Exported(t.slug, kind)
        out.mkdir(parents=True, exist_ok=True)
        for name in tables:
            path = out / f"{name}.{kind}"
            columns = SCHEMAS[name]
            writer = _Writer(path, arrow_schema(columns), kind)
            rows = 0
            try:
                batches = record.market_of(session, t.id) if name == "ticks" else _batches(session, queries[name],
                                                                                           columns, bots)  # fmt: skip
                for batch in batches:
                    writer.write(batch)
                    rows += batch.num_rows
            finally:
                writer.close()
            done.rows[name] = rows
            done.files.append(path)
        manifest = {
            "export_version": EXPORT_VERSION, "tournament": t.slug, "name": t.name, "status": t.status.value,
            "format": kind, "scope": "whole" if scope.whole else "entries",
            "bots": [k for _, k in entries], "recorded_tick": t.recorded_tick, "rows": done.rows,
            "time_zone": "UTC", "ts_unit": "ms",
        }  # fmt: skip
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    done.files.append(path)
    return done


def zip_export(exported: Exported, into: IO[bytes]) -> None:
    """The exported files as one zip archive (Parquet is compressed already: stored; CSV: deflated)."""
    method = zipfile.ZIP_STORED if exported.format == "parquet" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(into, "w", compression=method) as archive:
        for path in exported.files:
            archive.write(path, f"{exported.tournament}/{path.name}")

