"""arena.runtime.remote without HTTP: the sandboxed bots' own Supervisor over a remote bot's connection (here, two
callbacks and a queue), a real engine (run_local) and real Redis. What the gateway relies on: the bot gets
protocol v1, its lines are judged as a sandboxed bot's, and how its connection ends decides how the bot ends."""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

import redis

from arena.runtime.local import run_local
from arena.runtime.remote import CLOSE_NORMAL, RemoteBot, RemoteSandbox
from arena.runtime.spec import EntrySpec, TournamentSpec
from arena.runtime.supervisor import supervise
from sandbox import Limits


class Link:
    """One remote bot's connection as the gateway holds it: what the host writes, and the closes it asks for."""

    def __init__(self) -> None:
        self.written: queue.Queue[bytes] = queue.Queue()
        self.closes: list[tuple[int, str]] = []
        self.bot = RemoteBot(lambda data, _timeout: self.written.put(data), lambda code, why: self.closes.append(
            (code, why)), lambda: None)  # fmt: skip

    def messages(self) -> Any:
        while True:
            for line in self.written.get(timeout=30).split(b"\n"):
                if line.strip():
                    yield json.loads(line)

    def send(self, *messages: dict[str, Any]) -> None:
        self.bot.feed("\n".join(json.dumps(m) for m in messages).encode() + b"\n")


def _run(redis_url: str, catalog: Any, slug: str, play: Any) -> tuple[Any, Link]:
    spec = TournamentSpec(id=slug, rules={"practice": True, "symbols": ["BTC-USD", "ETH-USD"]}, feed="synthetic:3",
                          ticks=6, tick_deadline_s=5.0, entries=[EntrySpec(bot="me", remote=True)])  # fmt: skip
    link = Link()
    result: dict[str, Any] = {}
    engine = threading.Thread(target=lambda: result.update(run=run_local(redis_url, spec, catalog)), daemon=True)
    engine.start()
    client = redis.Redis.from_url(redis_url)
    supervisor = threading.Thread(target=supervise, args=(client, slug, "me", "remote", Limits()),
                                  kwargs={"sandbox": RemoteSandbox(link.bot)}, daemon=True)  # fmt: skip
    supervisor.start()
    play(link)
    engine.join(timeout=60)
    supervisor.join(timeout=30)
    client.close()
    standings, _reports = result["run"]
    return standings[0], link


def test_a_remote_bot_plays_to_the_end_and_its_connection_closes_normally(redis_url: str, catalog: Any) -> None:
    def play(link: Link) -> None:
        for message in link.messages():
            if message["type"] == "hello":
                link.send({"type": "subscribe", "symbols": ["BTC-USD"]}, {"type": "done", "n": 0})
            elif message["type"] == "tick":
                order = {"type": "order", "symbol": "BTC-USD", "side": "buy", "qty": 0.1, "client_order_id": "o1",
                         "account": "someone-else"}  # fmt: skip
                extra = [order, {"type": "bogus"}] if message["n"] == 2 else []
                link.send(*extra, {"type": "done", "n": message["n"]})
            elif message["type"] == "error":
                assert message["code"] == "UNKNOWN_TYPE"
            elif message["type"] == "end":
                return

    standing, link = _run(redis_url, catalog, "link-normal", play)
    assert standing.status == "finished" and standing.trades == 1  # its own account traded, whatever it wrote
    assert link.closes == [(CLOSE_NORMAL, "the tournament ended")]


def test_a_dropped_connection_leaves_the_bot_in_for_its_grace(redis_url: str, catalog: Any) -> None:
    """The network failing (1006) or the API process stopping (1012): the bot may come back within the grace (30 s),
    so it is not out; its ticks meanwhile are late (not waited for). The tournament ends first here."""
    for code, status in ((1006, "finished"), (1012, "finished")):
        def play(link: Link, code: int = code) -> None:
            for message in link.messages():
                if message["type"] == "hello":
                    link.send({"type": "done", "n": 0})
                elif message["type"] == "tick" and message["n"] == 2:
                    link.bot.disconnected(code)  # the gateway saw the connection close with this code
                    return
                elif message["type"] == "tick":
                    link.send({"type": "done", "n": message["n"]})

        standing, link = _run(redis_url, catalog, f"link-{code}", play)
        assert standing.status == status, (code, standing)
        assert link.closes == []  # closed already: nothing more to close


def test_a_flooding_remote_bot_is_cut_off_and_closed_as_a_policy_violation(redis_url: str, catalog: Any) -> None:
    def play(link: Link) -> None:
        for message in link.messages():
            if message["type"] == "hello":
                link.bot.feed(b"garbage\n" * 101)  # past the 100 refused lines a run may have
            elif message["type"] == "error" and message["code"] == "FLOODING":
                return

    standing, link = _run(redis_url, catalog, "link-flood", play)
    assert standing.status == "killed"
    assert link.closes and link.closes[0][0] == 1008 and "cut off" in link.closes[0][1]
