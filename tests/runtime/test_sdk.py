"""The bot SDK on its own: message handling, gap detection and re-sync, and the stdio runner over real pipes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from arena_bot import Bot, ExtendedHoursNotAllowedError, InvalidOrderError, MarginWarning, Status, Ticker, Trade, run
from arena_bot.errors import error_for

from arena.engine.orders import TradingSession, parse_order
from arena.engine.rejections import RejectionCode
from arena.engine.rules import resolve_ruleset
from arena.feeds import open_feed
from arena.runtime.backtest import load_bot
from arena.runtime.protocol import (
    MarketView,
    ProtocolViolation,
    end_message,
    hello_message,
    margin_warning_message,
    order_request,
    parse_bot_message,
    ping_message,
    system_status_message,
    tick_message,
)

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "runner-images" / "python"
EXAMPLES = sorted((ROOT / "examples" / "bots").glob("*.py"))


class Recorder(Bot):
    symbols = ("SPY",)

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[object] = []

    def on_book(self, book) -> None:
        self.seen.append(("book", book.seq))

    def on_ticker(self, ticker: Ticker) -> None:
        self.seen.append(ticker)

    def on_trade(self, trade: Trade) -> None:
        self.seen.append(trade)

    def on_margin_warning(self, warning: MarginWarning) -> None:
        self.seen.append(warning)

    def on_status(self, status: Status) -> None:
        self.seen.append(status)

    def on_error(self, code: str, message: str) -> None:
        self.seen.append(("error", code))


def snapshot(seq: int, bids, asks, symbol: str = "SPY") -> dict:
    return {"type": "orderbook", "symbol": symbol, "seq": seq, "ts": seq, "snapshot": True, "bids": bids,
            "asks": asks, "last": None}  # fmt: skip


def delta(seq: int, bids=(), asks=(), symbol: str = "SPY") -> dict:
    return {"type": "orderbook", "symbol": symbol, "seq": seq, "ts": seq, "snapshot": False, "bids": list(bids),
            "asks": list(asks), "last": 100.0}  # fmt: skip


def test_hello_subscribes_to_the_bots_symbols():
    bot = Recorder()
    bot.handle({"type": "hello", "protocol": 1, "balance": 1000.0})
    assert bot.take_outbox() == [
        {"type": "subscribe", "symbols": ["SPY"], "channels": ["ticker", "orderbook", "trades"]}
    ]
    assert bot.portfolio.nav == 1000.0
    plain = Bot()
    plain.handle({"type": "hello", "protocol": 1, "balance": 1.0})
    assert plain.take_outbox() == []  # no symbols: keep the host's default (everything)


def test_sdk_output_passes_host_validation():
    bot = Recorder()
    bot.handle({"type": "hello", "protocol": 1})
    bot.subscribe(["BTC-USD"], ["trades"])
    bot.unsubscribe(["SPY"])
    bot.buy("SPY", 1, limit=99.0)
    bot.cancel("o1")
    bot.log("hello", level="warning")
    bot.handle(ping_message(4))
    for message in bot.take_outbox():
        parse_bot_message(json.loads(json.dumps(message)))


def test_an_order_may_ask_for_extended_hours_and_its_rejection_is_typed():
    bot = Recorder()
    bot.handle({"type": "hello", "protocol": 1})
    plain = bot.buy("SPY", 1, limit=99.0)
    tagged = bot.buy("SPY", 1, limit=99.0, session="extended")
    sent = [m for m in bot.take_outbox() if m["type"] == "order"]
    assert "session" not in sent[0] and sent[1]["session"] == "extended"  # the default goes unsaid, as before
    assert bot.open_orders[plain].session == "regular" and bot.open_orders[tagged]["session"] == "extended"
    request = order_request(parse_bot_message(json.loads(json.dumps(sent[1]))))
    assert parse_order(request, "a").session is TradingSession.EXTENDED  # what the host's engine reads
    with pytest.raises(InvalidOrderError, match="session must be one of regular, extended"):
        bot.buy("SPY", 1, limit=99.0, session="overnight")
    assert bot.take_outbox() == []
    error = error_for("EXTENDED_HOURS_NOT_ALLOWED", "no extended hours here")
    assert isinstance(error, ExtendedHoursNotAllowedError) and error.code == RejectionCode.EXTENDED_HOURS_NOT_ALLOWED


def test_a_sequence_gap_asks_once_for_a_resync_and_the_next_snapshot_recovers():
    bot = Recorder()
    bot.handle(snapshot(1, [[99.0, 5.0]], [[101.0, 5.0]]))
    bot.handle(delta(2, bids=[[99.5, 1.0]]))
    assert bot.books["SPY"].best_bid == 99.5
    bot.handle(delta(4, bids=[[99.6, 1.0]]))  # seq 3 was lost
    bot.handle(delta(5, bids=[[99.7, 1.0]]))  # still stale: no second resync
    assert bot.take_outbox() == [{"type": "resync", "symbol": "SPY"}]
    assert bot.books["SPY"].stale and bot.books["SPY"].best_bid == 99.5  # deltas after a gap are not applied
    bot.handle(snapshot(6, [[98.0, 2.0]], [[102.0, 2.0]]))
    bot.handle(delta(7, asks=[[102.0, 0.0], [103.0, 1.0]]))
    book = bot.books["SPY"]
    assert not book.stale and book.bids == [(98.0, 2.0)] and book.asks == [(103.0, 1.0)] and book.seq == 7
    assert [s for s in bot.seen if isinstance(s, tuple)] == [("book", 1), ("book", 2), ("book", 6), ("book", 7)]
    bot.handle(delta(9))  # a new gap asks again
    assert bot.take_outbox() == [{"type": "resync", "symbol": "SPY"}]


def test_the_backtests_book_message_still_works():
    bot = Recorder()
    bot.handle({"type": "book", "symbol": "SPY", "seq": 1, "ts": 5, "bids": [[1.0, 1.0]], "asks": [[2.0, 1.0]]})
    assert bot.books["SPY"].mid == 1.5


def test_channels_and_host_notices_reach_their_hooks():
    bot = Recorder()
    bot.handle({"type": "ticker", "symbol": "SPY", "seq": 1, "ts": 3, "bid": 99.0, "ask": 101.0, "mid": 100.0,
                "last": 100.0, "bid_size": 1.0, "ask_size": 2.0})  # fmt: skip
    bot.handle({"type": "trades", "symbol": "SPY", "seq": 1, "ts": 3, "price": 100.0, "qty": 7.0})
    bot.handle(margin_warning_message(850.0, 1000.0, 3, nav=500.0))
    bot.handle(system_status_message("halt", 4, symbol="SPY", reason="volatility"))
    bot.handle({"type": "error", "code": "UNKNOWN_TYPE", "message": "what"})
    bot.handle({"type": "something-new"})  # a newer host's message: ignored
    ticker, trade, warning, status, error = bot.seen
    assert ticker == bot.tickers["SPY"] and ticker.mid == 100.0 and ticker.ask_size == 2.0
    assert trade == Trade("SPY", 3, 100.0, 7.0)
    assert warning.utilization == 0.85 and warning.nav == 500.0
    assert status.status == "halt" and bot.statuses[(None, "SPY")] == status
    assert error == ("error", "UNKNOWN_TYPE")


def test_ping_is_answered_with_a_pong_of_the_same_id():
    bot = Bot()
    bot.handle(ping_message("hb-3"))
    assert bot.take_outbox() == [{"type": "pong", "id": "hb-3"}]


# -- the runner, in-process over byte streams ---------------------------------------------------------------


def lines(*messages: dict) -> io.BytesIO:
    return io.BytesIO(b"".join(json.dumps(m).encode() + b"\n" for m in messages))


def output(stream: io.BytesIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class Buyer(Bot):
    def on_tick(self, ts: int) -> None:
        if self.tick_n == 2:
            raise RuntimeError("boom")
        self.buy("SPY", 1)


def test_runner_writes_orders_then_done_and_survives_a_raising_callback():
    out, err = io.BytesIO(), io.StringIO()
    stdin = lines({"type": "hello", "protocol": 1}, tick_message(1, 10), tick_message(2, 20), tick_message(3, 30),
                  end_message(), tick_message(4, 40))  # fmt: skip
    assert run(Buyer, stdin=stdin, stdout=out, stderr=err) == 0
    sent = output(out)
    assert [m["type"] for m in sent] == ["done", "order", "done", "done", "order", "done"]  # nothing after end
    assert [m["n"] for m in sent if m["type"] == "done"] == [0, 1, 2, 3]
    assert "RuntimeError: boom" in err.getvalue() and "Traceback" in err.getvalue()


def test_runner_can_make_callback_errors_fatal():
    out, err = io.BytesIO(), io.StringIO()
    stdin = lines({"type": "hello"}, tick_message(1, 1), tick_message(2, 2), tick_message(3, 3))
    assert run(Buyer(), stdin=stdin, stdout=out, stderr=err, raise_errors=True) == 1
    assert [m["type"] for m in output(out)] == ["done", "order", "done"]


def test_runner_skips_bad_host_lines_and_unencodable_messages():
    class Odd(Bot):
        def on_tick(self, ts: int) -> None:
            self._outbox.append({"type": "log", "message": float("nan")})  # not JSON: dropped, reported
            self.log("x" * 5000)

    huge = b'{"type":"tick","n":9,"ts":1,"pad":"' + b"a" * 70000 + b'"}\n'
    stdin = io.BytesIO(b"not json\n[1]\n\n" + huge + json.dumps(tick_message(1, 1)).encode() + b"\n")
    out, err = io.BytesIO(), io.StringIO()
    assert run(Odd, stdin=stdin, stdout=out, stderr=err) == 0  # EOF ends it cleanly
    assert output(out) == [{"type": "log", "message": "x" * 1000}, {"type": "done", "n": 1}]
    assert "not JSON" in err.getvalue() and "longer than" in err.getvalue() and "not valid JSON" in err.getvalue()


def test_a_bot_that_fails_to_construct_exits_1():
    class Broken(Bot):
        def __init__(self) -> None:
            raise ValueError("nope")

    err = io.StringIO()
    assert run(Broken, stdin=lines(), stdout=io.BytesIO(), stderr=err) == 1
    assert "ValueError: nope" in err.getvalue()


# -- the runner in a real process over OS pipes ---------------------------------------------------------------

NOISY_BOT = textwrap.dedent(
    """
    import os, sys
    from arena_bot import Bot, run

    class Noisy(Bot):
        def on_start(self, info):
            print("hello from on_start")  # must not reach the protocol stream

        def on_tick(self, ts):
            print("tick", ts)
            os.write(1, b"raw fd 1 write\\n")
            sys.stdout.write("{not json either\\n")
            book = self.books.get("SPY")
            if book is not None and book.mid is not None:
                self.buy("SPY", 1, limit=book.best_bid)

    run(Noisy)
    """
)


def start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SDK)}
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def send(process: subprocess.Popen, *messages: dict) -> None:
    assert process.stdin is not None
    process.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
    process.stdin.flush()


def until_done(process: subprocess.Popen) -> list[dict]:
    """Read the bot's lines up to and including its next ``done`` (each must be a valid bot message)."""
    assert process.stdout is not None
    got = []
    while True:
        line = process.stdout.readline()
        assert line, "the bot closed its stdout"
        message = json.loads(line)
        parse_bot_message(message)
        got.append(message)
        if message["type"] == "done":
            return got


def test_stdio_runner_in_lockstep_over_real_pipes_and_prints_do_not_corrupt_it():
    process = start([sys.executable, "-c", NOISY_BOT])
    try:
        send(process, {"type": "hello", "protocol": 1, "balance": 1000.0})
        assert until_done(process) == [{"type": "done", "n": 0}]
        for n in (1, 2):
            book = snapshot(n, [[99.0, 5.0]], [[101.0, 5.0]]) if n == 1 else delta(n, bids=[[99.5, 1.0]])
            send(process, book, tick_message(n, n * 1000))
            got = until_done(process)
            assert [m["type"] for m in got] == ["order", "done"] and got[-1]["n"] == n
            assert got[0]["limit_price"] == (99.0 if n == 1 else 99.5)
        send(process, ping_message(5))
        assert json.loads(process.stdout.readline()) == {"type": "pong", "id": 5}
        send(process, end_message())
        stdout, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0 and stdout == b""
    text = stderr.decode()
    assert "hello from on_start" in text and "raw fd 1 write" in text and "{not json either" in text


def test_main_runs_over_stdio_without_a_gateway_and_names_what_a_remote_run_lacks():
    program = "from arena_bot import Bot, main\nraise SystemExit(main(Bot))"
    process = start([sys.executable, "-c", program])  # no ARENA_GATEWAY: stdio, as in a sandbox
    stdout, stderr = process.communicate(json.dumps(tick_message(1, 1)).encode() + b"\n", timeout=10)
    assert process.returncode == 0 and json.loads(stdout) == {"type": "done", "n": 1} and stderr == b""
    env = {**os.environ, "PYTHONPATH": str(SDK), "ARENA_GATEWAY": "ws://127.0.0.1:9/api/v1/gateway/t/b",
           "ARENA_KEY": "k"}  # fmt: skip
    env.pop("ARENA_SECRET", None)
    remote = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, timeout=10)
    assert remote.returncode == 2 and remote.stdout == b"" and b"ARENA_SECRET is not" in remote.stderr


def test_stdio_runner_exits_cleanly_on_eof():
    process = start([sys.executable, "-c", "from arena_bot import Bot, run\nrun(Bot)"])
    stdout, stderr = process.communicate(json.dumps(tick_message(1, 1)).encode() + b"\n", timeout=10)
    assert process.returncode == 0 and json.loads(stdout) == {"type": "done", "n": 1} and stderr == b""


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_bot_runs_under_the_stdio_runner(path, catalog):
    """Feed each example a synthetic market through MarketView, as a host would, and check its output."""
    symbols = list(load_bot(path).symbols)
    ticks = list(open_feed("synthetic:5", catalog, symbols, ticks=60))
    ruleset = resolve_ruleset(None)
    view = MarketView(symbols)
    stream = [hello_message("b1", "t1", ruleset, [catalog[s] for s in symbols])]
    lost = None
    for n, tick in enumerate(ticks, 1):
        messages = view.messages(tick.books)
        if n == 30:  # lose a delta: the next one shows the gap, the bot asks for a resync...
            lost = next(m for m in messages if m["type"] == "orderbook" and not m["snapshot"])
            messages.remove(lost)
            messages.append(system_status_message("open", tick.ts))
        if n == 31 and lost is not None:  # ... which the host answers with a snapshot on the next tick
            view.resync(lost["symbol"])
        stream += messages
        stream.append({"type": "portfolio", "ts": tick.ts, "cash": 1e6, "nav": 1e6, "positions": {}})
        stream.append(tick_message(n, tick.ts))
    stream.append(end_message())
    process = start([sys.executable, str(path)])
    stdout, stderr = process.communicate(b"".join(json.dumps(m).encode() + b"\n" for m in stream), timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr, stderr.decode()
    sent = [json.loads(line) for line in stdout.splitlines()]
    for message in sent:
        try:
            parse_bot_message(message)
        except ProtocolViolation as exc:  # pragma: no cover - the failure message says which
            pytest.fail(f"{path.stem} wrote an invalid line {message}: {exc}")
    assert [m["n"] for m in sent if m["type"] == "done"] == list(range(len(ticks) + 1))
    assert any(m["type"] == "order" for m in sent), f"{path.stem} never sent an order"
    assert sent[0]["type"] == "subscribe" and sent[0]["symbols"] == symbols
    assert lost is not None and {"type": "resync", "symbol": lost["symbol"]} in sent


def test_every_engine_rejection_code_has_its_typed_sdk_error():
    from arena_bot import NoConversionRateError, OrderRejectedError

    untyped = [code for code in RejectionCode if type(error_for(code.value, "m")) is OrderRejectedError]
    assert untyped == []
    error = error_for("NO_CONVERSION_RATE", "EURGBP is quoted in GBP; its conversion pair GBPUSD has no price yet")
    assert isinstance(error, NoConversionRateError) and error.code == RejectionCode.NO_CONVERSION_RATE
