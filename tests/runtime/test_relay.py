"""The relay: a bot host process's sandboxed bots share one read of the streams and one thread polling their pipes
(runc). One read serves every bot each tick, and a bot that stops reading its input is cut off without holding up
the others."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from arena.runtime import supervisor
from arena.runtime.bus import Bus
from arena.runtime.local import run_local
from arena.runtime.spec import EntrySpec, TournamentSpec
from tests.runtime.test_many_bots import TINY_BOT, runc, tiny_bot  # noqa: F401 (fixtures)

pytestmark = pytest.mark.sandbox

# Answers hello, then never reads again: the host's writes back up once the pipes (and runc's copy between them,
# about 160 KiB in all) are full.
DEAF_BOT = """
import json, sys, time
json.loads(sys.stdin.readline())
print('{"type":"done","n":0}', flush=True)
time.sleep(600)
"""


# Answers every tick; at tick 2 it first writes an order the supervisor refuses, whose refusal would echo back an
# infinite order id (JSON has no infinity): the refusal cannot be sent, the bot and every other bot play on.
_DONE = 'print(json.dumps({"type": "done", "n": message["n"]}), flush=True)'
ECHO_BOT = TINY_BOT.replace(_DONE, """if message["n"] == 2:
            print('{"type":"order","symbol":"SPY","side":"buy","qty":1,"order_type":"market","order_id":1e999}')
        """ + _DONE)


def test_one_read_of_the_streams_serves_every_bot_of_a_host(
    redis_url, catalog, runc, tiny_bot, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    bots, ticks = 12, 20
    spec = TournamentSpec(id="shared-read", feed="synthetic:3", seed=3, ticks=ticks, rules={"symbols": ["SPY"]},
                          tick_deadline_s=5.0,
                          entries=[EntrySpec(bot=f"tiny-{i}", path=str(tiny_bot)) for i in range(bots)])  # fmt: skip
    reads: list[int] = []  # the bots each read of the streams served
    real = Bus.read_for_bots

    def counted(self: Bus, after_market: str, after_bots: Mapping[str, str], block_ms: int | None) -> Any:
        reads.append(len(after_bots))
        return real(self, after_market, after_bots, block_ms)

    entries: list[str] = []  # the stream entry each report the engine read came in
    real_reports = Bus.read_reports

    def read_reports(self: Bus, after: str, block_ms: int | None) -> Any:
        found = real_reports(self, after, block_ms)
        entries.extend(report.id for report in found)
        return found

    monkeypatch.setattr(Bus, "read_for_bots", counted)
    monkeypatch.setattr(Bus, "read_reports", read_reports)
    standings, _ = run_local(redis_url, spec, catalog)
    assert {s.status for s in standings} == {"finished"}
    # A round's reports go out as one stream entry: every bot's done of every tick, in far fewer entries.
    assert len(entries) >= bots * ticks
    assert len(set(entries)) < len(entries) / 3, (len(set(entries)), len(entries))
    # Each bot reading for itself took at least bots x ticks reads (240 here). The relay reads for all of them at
    # once: about twice a tick (the engine's messages to the bots, then the tick), a few more while they attach.
    assert max(reads) == bots
    assert len(reads) < 3 * ticks + bots, len(reads)


def test_a_bot_that_stops_reading_is_cut_off_without_holding_up_the_others(
    redis_url, catalog, runc, tiny_bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setattr(supervisor, "MAX_BACKLOG_BYTES", 8192)  # a tick or two past full pipes
    deaf = tmp_path / "deaf.py"
    deaf.write_text(DEAF_BOT)
    deaf.chmod(0o644)
    entries = [EntrySpec(bot="deaf", path=str(deaf))] + [EntrySpec(bot=f"tiny-{i}", path=str(tiny_bot))
                                                         for i in range(3)]  # fmt: skip
    symbols = ["SPY", "AAPL", "MSFT", "NVDA", "BTC-USD", "ETH-USD"]  # several KiB of market data a tick
    spec = TournamentSpec(id="deaf-bot", feed="synthetic:3", seed=3, ticks=60, rules={"symbols": symbols},
                          tick_deadline_s=0.2, entries=entries)  # fmt: skip
    answered: list[int] = []
    standings, reports = run_local(redis_url, spec, catalog, on_tick=lambda r: answered.append(r.n))
    statuses = {s.bot: s.status for s in standings}
    assert answered == list(range(1, 61))
    assert all(statuses[f"tiny-{i}"] == "finished" for i in range(3)), statuses
    assert statuses["deaf"] != "finished", statuses
    assert "does not read its input" in reports["deaf"].reason, reports["deaf"]
    assert not reports["deaf"].host_fault  # the bot's fault, not the host's


def test_a_line_whose_refusal_cannot_be_encoded_stops_nothing(redis_url, catalog, runc, tiny_bot, tmp_path: Path):  # noqa: F811
    echo = tmp_path / "echo.py"
    echo.write_text(ECHO_BOT)
    echo.chmod(0o644)
    entries = [EntrySpec(bot="echo", path=str(echo))] + [EntrySpec(bot=f"tiny-{i}", path=str(tiny_bot))
                                                         for i in range(3)]  # fmt: skip
    spec = TournamentSpec(id="echo-bot", feed="synthetic:3", seed=3, ticks=6, rules={"symbols": ["SPY"]},
                          tick_deadline_s=5.0, entries=entries)  # fmt: skip
    waited: list[float] = []
    standings, reports = run_local(redis_url, spec, catalog, on_tick=lambda r: waited.append(r.waited_s))
    assert {s.bot: s.status for s in standings} == dict.fromkeys(["echo", "tiny-0", "tiny-1", "tiny-2"], "finished")
    assert len(waited) == 6 and max(waited) < 5.0  # every tick answered by every bot: no deadline ran out
    assert reports["echo"].orders == 0 and not reports["echo"].host_fault
