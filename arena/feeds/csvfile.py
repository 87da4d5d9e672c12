"""Reading market data CSV files row by row, with every bad row reported by file, line and code.

Two layouts, told apart by the header (column order is free, names are case-insensitive, extra columns
are ignored, ``date``/``time``/``timestamp``/``datetime`` are accepted for ``ts``):

* quotes: ``ts,symbol,bid,ask,bid_size,ask_size[,last,volume,halted]`` (``halted``: 1/0, true/false or yes/no;
  a halted row's quotes are shown and nothing trades in the symbol until a row says otherwise)
* bars (OHLCV): ``ts,symbol,open,high,low,close,volume``

``ts`` is an ISO-8601 date (a daily bar), an ISO-8601 date-time (``Z`` or an offset; naive means UTC)
or integer epoch milliseconds. Files are read as UTF-8 (a BOM is allowed) one line at a time, so a
1 GB quotes file streams, and a decoding error names its own line. A bar file that needs none of that care (see
:meth:`CsvFile._quick_bars`) is read whole instead, column by column: the same rows, several times faster.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import chain, repeat
from operator import itemgetter, le, mul, sub
from pathlib import Path
from typing import Literal, NamedTuple

from arena.engine.instruments import Instrument, InstrumentCatalog
from arena.feeds.errors import FeedError, FeedErrorCode

Kind = Literal["quotes", "bars"]

QUOTE_COLUMNS = ("ts", "symbol", "bid", "ask", "bid_size", "ask_size")
QUOTE_OPTIONAL = ("last", "volume", "halted")
BAR_COLUMNS = ("ts", "symbol", "open", "high", "low", "close", "volume")
_TS_ALIASES = {"date": "ts", "time": "ts", "timestamp": "ts", "datetime": "ts"}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = _EPOCH.date().toordinal()
_DAY_MS = 86_400_000
_MS = timedelta(milliseconds=1)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATES = re.compile(r"\d{4}-\d{2}-\d{2}(?:\n\d{4}-\d{2}-\d{2})*")  # _DATE on each line
_SPACE = re.compile(r"\s")  # what str.strip() strips (the same test of a character)
_ASCII_SPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "  # the ASCII characters it matches
_WHOLE_MAX_BYTES = 64 << 20  # a bar file up to this size may be read at once (_quick_bars)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# Integer timestamps below this (1973-03-03) are taken for epoch seconds or YYYYMMDD, not milliseconds.
_MIN_EPOCH_MS = 10**11
_MAX_TICKS = 2.0**52
_MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


@dataclass(frozen=True, slots=True)
class QuoteRow:
    line: int
    ts: int
    inst: Instrument
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    last: float | None
    volume: float
    halted: bool = False


class BarRow(NamedTuple):  # a tuple: a file of daily bars makes thousands, and a tuple is made fastest
    line: int
    ts: int  # for a daily bar, 00:00 UTC of ``day``
    day: date | None  # set for a daily (date-only) bar
    inst: Instrument
    open: float
    high: float
    low: float
    close: float
    volume: float


def parse_ts(text: str) -> tuple[int, date | None]:
    """Epoch milliseconds of ``text``, and the date when ``text`` is a bare date. Raises ValueError."""
    s = text.strip()
    if s.isascii() and s.isdigit():
        ms = int(s)
        if ms < _MIN_EPOCH_MS:
            raise ValueError(f"{s} is too small for epoch milliseconds (epoch seconds or YYYYMMDD?)")
        if ms > _MAX_EPOCH_MS:
            raise ValueError(f"{s} is beyond the year 9999 as epoch milliseconds")
        return ms, None
    if _DATE.fullmatch(s):
        day = date.fromisoformat(s)
        return (day.toordinal() - _EPOCH_DAY) * _DAY_MS, day  # 00:00 UTC of the day
    if not s or not s[0].isdigit():
        raise ValueError(f"{text!r} is not an ISO-8601 date/date-time or epoch milliseconds")
    moment = datetime.fromisoformat(s)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    ms = (moment - _EPOCH) // _MS
    if ms > _MAX_EPOCH_MS:
        raise ValueError(f"{s} is beyond the year 9999 in UTC")
    return ms, None


class CsvFile:
    """One market data file; iterate :meth:`rows` to read and check it (again) from the top."""

    def __init__(self, path: str | Path, catalog: InstrumentCatalog, wanted: frozenset[str] | None = None):
        self.path = Path(path)
        self.catalog = catalog
        self.wanted = wanted  # rows of other symbols are checked for layout and order, then skipped
        if not self.path.exists():
            raise FeedError(FeedErrorCode.NO_SUCH_FILE, "no such file", self.path)
        if not self.path.is_file():
            raise FeedError(FeedErrorCode.UNREADABLE, "not a regular file", self.path)
        self.kind, self._columns, self._header_line = self._read_header()
        self._bar_numbers = [self._columns[n] for n in BAR_COLUMNS[2:]] if self.kind == "bars" else []

    def _error(self, code: FeedErrorCode, message: str, line: int | None) -> FeedError:
        return FeedError(code, message, self.path, line)

    def _lines(self, counter: list[int]) -> Iterator[str]:
        """Decoded lines; ``counter[0]`` is the number of the line last handed out."""
        try:
            with self.path.open("rb") as raw:
                for counter[0], data in enumerate(raw, start=1):
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise self._error(
                            FeedErrorCode.ENCODING,
                            f"not UTF-8 (byte {exc.start + 1} of the line)",
                            counter[0],
                        ) from None
                    yield text[1:] if counter[0] == 1 and text.startswith("\ufeff") else text
        except OSError as exc:
            raise self._error(FeedErrorCode.UNREADABLE, exc.strerror or str(exc), None) from None

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """(line, fields) of every non-blank CSV record, header included."""
        counter = [0]
        reader = csv.reader(self._lines(counter), strict=True)
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise self._error(FeedErrorCode.BAD_CSV, f"malformed CSV: {exc}", counter[0]) from None
            if "".join(fields).strip():  # a field that is not blank
                yield counter[0], fields

    def _read_header(self) -> tuple[Kind, dict[str, int], int]:
        for line, fields in self._records():
            names = [_TS_ALIASES.get(n, n) for n in (f.strip().lower() for f in fields)]
            duplicated = sorted({n for n in names if n and names.count(n) > 1})
            if duplicated:
                raise self._error(FeedErrorCode.BAD_HEADER, f"column(s) named twice: {', '.join(duplicated)}", line)
            given = set(names)
            if given & {"open", "high", "low", "close"}:
                kind: Kind = "bars"
                required: tuple[str, ...] = BAR_COLUMNS
            elif given & {"bid", "ask", "bid_size", "ask_size"}:
                kind, required = "quotes", QUOTE_COLUMNS
            else:
                raise self._error(
                    FeedErrorCode.BAD_HEADER,
                    f"expected a header of quotes ({','.join(QUOTE_COLUMNS)}[,last,volume]) "
                    f"or of bars ({','.join(BAR_COLUMNS)}), got {','.join(fields)[:200]!r}",
                    line,
                )
            missing = [c for c in required if c not in given]
            if missing:
                raise self._error(
                    FeedErrorCode.MISSING_COLUMN, f"{kind} file lacks column(s) {', '.join(missing)}", line
                )
            return kind, {n: i for i, n in enumerate(names)}, line
        raise self._error(FeedErrorCode.EMPTY_FILE, "the file is empty (no header)", None)

    def rows(self) -> Iterator[QuoteRow | BarRow | None]:
        """Every data row, checked; None for a row of a symbol that is not wanted (it still counts for
        ordering, so the caller sees the file's full sequence)."""
        quick = self._quick_bars() if self.kind == "bars" else None
        if quick is not None:
            yield from quick
            return
        records = self._records()
        for _line, _fields in records:  # skip up to and including the header
            break
        width = len(self._columns)
        parse = self._quote if self.kind == "quotes" else self._bar
        count = 0
        previous_ts: int | None = None
        for line, fields in records:
            if len(fields) != width:
                raise self._error(FeedErrorCode.WRONG_FIELD_COUNT, f"expected {width} fields, got {len(fields)}", line)
            count += 1
            row = parse(line, fields)
            if self.kind == "quotes":
                # Quotes stream, so they must come in time order; bars are small and get sorted.
                ts = row.ts if row is not None else self._ts(line, fields)[0]
                if previous_ts is not None and ts < previous_ts:
                    raise self._error(
                        FeedErrorCode.OUT_OF_ORDER,
                        f"timestamp {fields[self._columns['ts']].strip()} is earlier than the row before; "
                        "a quotes file must be in non-decreasing time order",
                        line,
                    )
                previous_ts = ts
            yield row
        if count == 0:
            raise self._error(FeedErrorCode.EMPTY_FILE, "a header but no data rows", self._header_line)

    def _quick_bars(self) -> list[BarRow | None] | None:
        """What :meth:`rows` gives for a bar file, read whole and column by column in C loops (``map``, slices), when
        nothing in it needs the line-by-line reading: the file decodes as UTF-8 and has no quote, no NUL, no carriage
        return but before a line feed and no line beyond csv's field limit (so splitting at commas is what csv.reader
        does), every record is as wide as the header, and every row passes _bar's quick check at once. Otherwise None
        (also for a file too large to hold at once), and the line-by-line reading then names the line at fault."""
        try:
            if self.path.stat().st_size > _WHOLE_MAX_BYTES:
                return None
            text = self.path.read_bytes().decode("utf-8").removeprefix("\ufeff")
        except (OSError, UnicodeDecodeError):
            return None
        if "\r" in text:
            text = text.replace("\r\n", "\n")  # the end of a line to csv.reader too
        if '"' in text or "\r" in text or "\x00" in text:
            return None
        lines = text.split("\n")
        while lines and not lines[-1].strip():  # blank lines at the end (and what follows the last line feed)
            lines.pop()
        if not lines or max(map(len, lines)) >= csv.field_size_limit():
            return None
        header = next((i for i, line in enumerate(lines) if line.replace(",", "").strip()), None)  # blank: commas
        if header is None:
            return None
        data = lines[header + 1 :]
        width = len(self._columns)
        # A blank line inside has another width, or all-blank fields that fail below: the careful path skips it.
        if not data or set(map(str.count, data, repeat(","))) != {width - 1}:
            return None
        body = ",".join(data)
        fields = body.split(",")  # record after record, ``width`` fields each
        # Anything str.strip() would take off; in ASCII text that is a few characters, each found by memchr.
        spaced = any(c in body for c in _ASCII_SPACE) if body.isascii() else _SPACE.search(body) is not None

        def column(name: str) -> list[str]:
            texts = fields[self._columns[name] :: width]
            return list(map(str.strip, texts)) if spaced else texts

        stamps = column("ts")
        try:
            if _DATES.fullmatch("\n".join(stamps)):  # parse_ts's dates, at once
                dates = list(map(date.fromisoformat, stamps))
                times = list(map(mul, map(sub, map(date.toordinal, dates), repeat(_EPOCH_DAY)), repeat(_DAY_MS)))
                days: list[date | None] = list(dates)
            else:
                parsed = list(map(parse_ts, stamps))
                times, days = list(map(itemgetter(0), parsed)), list(map(itemgetter(1), parsed))
        except (ValueError, OverflowError):
            return None
        symbols = column("symbol")
        instruments = {s: None if self.wanted is not None and s not in self.wanted else self.catalog.get(s)
                       for s in set(symbols)}  # fmt: skip
        if any(i is None and (self.wanted is None or s in self.wanted) for s, i in instruments.items()):
            return None  # not in the catalog
        texts = [column(name) for name in BAR_COLUMNS[2:]]
        if any("_" in "".join(column_texts) for column_texts in texts):  # float() takes 1_0; the quick check does not
            return None
        try:  # prices come back again and again (a close is often the next open): each read once
            prices = set(chain.from_iterable(texts[:4]))
            value = dict(zip(prices, map(float, prices), strict=True))
            opens, highs, lows, closes = (list(map(value.__getitem__, column_texts)) for column_texts in texts[:4])
            volumes = list(map(float, texts[4]))
        except ValueError:
            return None
        # _bar's quick check, column by column: a NaN fails a comparison of its column, so min and max then see none.
        consistent = (all(map(le, lows, opens)) and all(map(le, opens, highs)) and all(map(le, lows, closes))
                      and all(map(le, closes, highs)) and all(map(le, repeat(0.0), volumes)))  # fmt: skip
        if not (consistent and min(lows) > 0.0 and max(highs) < math.inf and max(volumes) < math.inf):
            return None
        ticks = [inst.tick_size for inst in instruments.values() if inst is not None]
        if ticks and max(highs) / min(ticks) >= _MAX_TICKS:  # in ticks, for each row too
            return None
        first = header + 2  # the first data row's line number
        lines_at = range(first, first + len(data))
        # tuple.__new__ is what BarRow(...) calls, less the Python frame of its generated __new__.
        records = zip(lines_at, times, days, map(instruments.__getitem__, symbols), opens, highs, lows, closes, volumes,
                      strict=True)  # fmt: skip
        rows: list[BarRow | None] = list(map(tuple.__new__, repeat(BarRow), records))
        if None in instruments.values():  # rows of symbols not wanted
            return [row if row is not None and row.inst is not None else None for row in rows]
        return rows

    # -- fields ---------------------------------------------------------------------------------------

    def _ts(self, line: int, fields: list[str]) -> tuple[int, date | None]:
        text = fields[self._columns["ts"]]
        try:
            return parse_ts(text)
        except (ValueError, OverflowError) as exc:
            message = str(exc) if str(exc).startswith(text.strip()) else f"{text.strip()!r}: {exc}"
            raise self._error(FeedErrorCode.BAD_TIMESTAMP, message, line) from None

    def _inst(self, line: int, fields: list[str]) -> Instrument | None:
        symbol = fields[self._columns["symbol"]].strip()
        if self.wanted is not None and symbol not in self.wanted:
            return None
        inst = self.catalog.get(symbol)
        if inst is None:
            raise self._error(FeedErrorCode.UNKNOWN_SYMBOL, f"symbol {symbol!r} is not in the catalog", line)
        return inst

    def _number(self, line: int, fields: list[str], column: str, *, positive: bool) -> float:
        text = fields[self._columns[column]].strip()
        value = float(text) if _NUMBER.fullmatch(text) else math.nan
        if not math.isfinite(value):
            raise self._error(FeedErrorCode.BAD_NUMBER, f"{column} {text!r} is not a finite number", line)
        if value < 0 or (positive and value == 0):
            need = "positive" if positive else "zero or more"
            raise self._error(FeedErrorCode.BAD_NUMBER, f"{column} {text!r} must be {need}", line)
        return value

    def _optional(self, line: int, fields: list[str], column: str, *, positive: bool) -> float | None:
        if column not in self._columns or not fields[self._columns[column]].strip():
            return None
        return self._number(line, fields, column, positive=positive)

    def _flag(self, line: int, fields: list[str], column: str) -> bool:
        """An optional yes/no column: 1/0, true/false, yes/no (any case); empty or absent is no."""
        if column not in self._columns:
            return False
        text = fields[self._columns[column]].strip().lower()
        if text in ("", "0", "false", "no"):
            return False
        if text in ("1", "true", "yes"):
            return True
        problem = f"{column} must be 1/0, true/false or yes/no, got {text[:20]!r}"
        raise self._error(FeedErrorCode.BAD_NUMBER, problem, line)

    def _in_range(self, line: int, inst: Instrument, **prices: float) -> None:
        """Prices must be countable in ticks exactly (a float holds whole numbers up to 2**53)."""
        for name, price in prices.items():
            if price / inst.tick_size >= _MAX_TICKS:
                raise self._error(FeedErrorCode.BAD_NUMBER, f"{name} {price} is implausibly large", line)

    # -- rows -----------------------------------------------------------------------------------------

    def _quote(self, line: int, fields: list[str]) -> QuoteRow | None:
        ts, _ = self._ts(line, fields)
        inst = self._inst(line, fields)
        bid = self._number(line, fields, "bid", positive=True)
        ask = self._number(line, fields, "ask", positive=True)
        bid_size = self._number(line, fields, "bid_size", positive=True)
        ask_size = self._number(line, fields, "ask_size", positive=True)
        last = self._optional(line, fields, "last", positive=True)
        volume = self._optional(line, fields, "volume", positive=False) or 0.0
        halted = self._flag(line, fields, "halted")
        if bid >= ask:
            raise self._error(FeedErrorCode.CROSSED_QUOTE, f"bid {bid} is not below ask {ask}", line)
        if inst is None:
            return None
        self._in_range(line, inst, bid=bid, ask=ask)
        for name, price in (("bid", bid), ("ask", ask)):
            if not inst.is_valid_price(price):
                raise self._error(
                    FeedErrorCode.OFF_TICK,
                    f"{name} {price} is not a multiple of {inst.symbol}'s tick size {inst.tick_size}",
                    line,
                )
        return QuoteRow(line, ts, inst, bid, ask, bid_size, ask_size, last, volume, halted)

    def _bar(self, line: int, fields: list[str]) -> BarRow | None:
        """A bar row, checked. A row that passes every check at once takes the short way; any other row takes
        the checks one by one, which name the first that fails."""
        ts, day = self._ts(line, fields)
        inst = self._inst(line, fields)
        texts = [fields[i].strip() for i in self._bar_numbers]
        # float() takes every decimal number _NUMBER does, and only two things more: underscores, refused here, and
        # inf/nan (any case), which the range checks below refuse. Cheaper than matching the pattern first.
        if "_" not in "".join(texts):
            try:
                o, h, low, c, volume = map(float, texts)
            except ValueError:  # not numbers: the long way names the field
                return self._bar_checked(line, fields, ts, day, inst)
            # Positive and finite (NaN fails every comparison; a huge exponent gives inf), and a consistent bar.
            if 0.0 < low <= o <= h < math.inf and low <= c <= h and 0.0 <= volume < math.inf:
                if inst is None:
                    return None
                if h / inst.tick_size < _MAX_TICKS:
                    return BarRow(line, ts, day, inst, o, h, low, c, volume)
        return self._bar_checked(line, fields, ts, day, inst)

    def _bar_checked(self, line: int, fields: list[str], ts: int, day: date | None,
                     inst: Instrument | None) -> BarRow | None:  # fmt: skip
        o, h, low, c = (self._number(line, fields, n, positive=True) for n in ("open", "high", "low", "close"))
        volume = self._number(line, fields, "volume", positive=False)
        if h < low:
            raise self._error(FeedErrorCode.BAD_OHLC, f"high {h} is below low {low}", line)
        for name, value in (("open", o), ("close", c)):
            if not low <= value <= h:
                raise self._error(FeedErrorCode.BAD_OHLC, f"{name} {value} is outside [low {low}, high {h}]", line)
        if inst is None:
            return None
        self._in_range(line, inst, high=h)
        return BarRow(line, ts, day, inst, o, h, low, c, volume)
