"""Remote bots against sandboxed ones: lockstep ticks per second of the same tournament (same feed, same trivial
bot file, same number of bots) with the bots connected through the bot gateway (each its own process running
`arena_bot.connect`, over loopback WebSockets to a real API server) and with the bots in sandboxes (the peer),
measured in the same run, three times each, alternated. Prints one JSON object; not part of the test run.

The engine runs here (`run_local`, as the service's threads mode does); the API (uvicorn in a thread) serves the
gateway. Measured from the first tick to the last, as bench/tournament.py does (start-up excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# Running this file puts bench/ first on sys.path, where bench/sandbox.py would shadow the sandbox package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import uvicorn  # noqa: E402

from arena.api.app import create_app  # noqa: E402
from arena.catalog import load_catalog  # noqa: E402
from arena.runtime.local import run_local  # noqa: E402
from arena.runtime.redis_server import RedisServer, free_port  # noqa: E402
from arena.runtime.spec import EntrySpec, TournamentSpec  # noqa: E402
from arena.settings import Settings  # noqa: E402
from arena.store import accounts, remote_keys, tournaments  # noqa: E402
from arena.store import bots as bot_repo  # noqa: E402
from arena.store.db import make_engine, make_sessionmaker  # noqa: E402
from arena.store.migrate import upgrade  # noqa: E402
from arena.webhooks.keyring import SecretKeyring  # noqa: E402

BOT = '''
from arena_bot import Bot, main

class Quiet(Bot):
    symbols = ("BTC-USD", "ETH-USD")

    def on_tick(self, ts):
        if self.tick_n % 50 == 1:
            self.buy("BTC-USD", 0.01)

if __name__ == "__main__":
    raise SystemExit(main(Quiet))
'''
RULES = {"practice": True, "symbols": ["BTC-USD", "ETH-USD"]}


def _ticks_per_second(spec: TournamentSpec, redis_url: str) -> float:
    stamps: list[float] = []
    standings, _ = run_local(redis_url, spec, load_catalog(), on_tick=lambda _: stamps.append(time.perf_counter()))
    assert all(s.status == "finished" for s in standings), [(s.bot, s.status) for s in standings]
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


class Site:
    """A database with one contestant and a remote key, and the API serving the gateway over it."""

    def __init__(self, tmp: Path, redis_url: str) -> None:
        self.settings = Settings(redis_url=redis_url, database_url=f"sqlite:///{tmp / 'arena.db'}",
                                 data_dir=tmp / "data", rate_limit=10**6)  # fmt: skip
        upgrade(self.settings.database)
        self.sessions = make_sessionmaker(make_engine(self.settings.database))
        keyring = SecretKeyring.from_settings("", self.settings.data_dir)
        with self.sessions.begin() as session:
            self.contestant = accounts.create_contestant(session, "bench")
            key, self.secret = remote_keys.create_key(session, self.contestant, keyring.seal)
            self.key, self.contestant_id = key.key_id, self.contestant.id
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_app(self.settings), host="127.0.0.1", port=self.port,
                                                    log_level="warning"))  # fmt: skip
        threading.Thread(target=self.server.run, daemon=True).start()
        while not self.server.started:
            time.sleep(0.01)  # the server's start-up

    def remote_tournament(self, slug: str, bots: int) -> list[str]:
        """A running practice tournament with ``bots`` remote entries (made here, not through the API: the engine
        runs in this process); their bot keys."""
        with self.sessions.begin() as session:
            who = accounts.get_contestant(session, self.contestant_id)
            t = tournaments.create_tournament(session, slug, slug, rules=RULES)
            tournaments.transition(session, t, "open")
            keys = []
            for i in range(bots):
                bot = bot_repo.bot_by_name(session, who, f"b{i}") or bot_repo.create_bot(session, who, f"b{i}")
                keys.append(tournaments.enter(session, t, None, who, bot=bot).bot_key)
            tournaments.transition(session, t, "running")
        return keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bots", type=int, default=3)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--runtime", default="runsc", help="the sandboxed peer's OCI runtime: runsc or runc")
    args = parser.parse_args()
    os.environ["ARENA_SANDBOX_RUNTIME"] = args.runtime
    remote: list[float] = []
    sandboxed: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, RedisServer() as redis_server:
        bot_file = Path(tmp) / "quiet.py"
        bot_file.write_text(BOT)
        site = Site(Path(tmp), redis_server.url)
        for run in range(args.runs):
            slug = f"remote-{run}"
            keys = site.remote_tournament(slug, args.bots)
            env = os.environ | {"ARENA_KEY": site.key, "ARENA_SECRET": site.secret}
            clients = [subprocess.Popen([sys.executable, str(bot_file)], env=env | {
                "ARENA_GATEWAY": f"ws://127.0.0.1:{site.port}/api/v1/gateway/{slug}/b{i}"}) for i in range(args.bots)]
            spec = TournamentSpec(id=slug, rules=RULES, feed="synthetic:1", ticks=args.ticks, tick_deadline_s=5.0,
                                  entries=[EntrySpec(bot=k, remote=True) for k in keys])  # fmt: skip
            remote.append(_ticks_per_second(spec, redis_server.url))
            for client in clients:
                client.wait(timeout=60)
            spec = TournamentSpec(id=f"sandboxed-{run}", rules=RULES, feed="synthetic:1", ticks=args.ticks,
                                  tick_deadline_s=5.0, limits={"timeout": "600"},
                                  entries=[EntrySpec(bot=f"s{i}", path=str(bot_file)) for i in range(args.bots)])
            sandboxed.append(_ticks_per_second(spec, redis_server.url))
        site.server.should_exit = True
    ratios = [r / s for r, s in zip(remote, sandboxed, strict=True)]
    report: dict[str, Any] = {
        "bots": args.bots, "ticks": args.ticks, "peer_runtime": args.runtime,
        "remote_ticks_per_second": [round(x, 1) for x in remote],
        "sandboxed_ticks_per_second": [round(x, 1) for x in sandboxed],
        "remote_over_sandboxed": [round(x, 3) for x in ratios],
        "median_ratio": round(statistics.median(ratios), 3),
    }  # fmt: skip
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
