"""A finished tournament's awards (ratings, XP, badges; arena.service.awards) on a big record. Prints one JSON object.

Not part of the test run. A tournament of ``--bots`` contestants, one bot each, ``--fills`` fills per bot over
eight instruments in eight sectors (so every entry is replayed for "Diversified"), on SQLite (a temporary file),
the database of ``--database-url``, or a throwaway PostgreSQL (``--postgres``, ``arena.store.pgserver``). For
each of ``--runs`` such tournaments it times ``award_tournament`` and, in the same run, the floor it stands on:
one SELECT of every fill of the tournament (the record read once). The ratio is the awards' time over that read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Running this file puts bench/ first on sys.path, where bench/sandbox.py would shadow the sandbox package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from sqlalchemy import insert, select  # noqa: E402

from arena.engine.ranking import competition_ranks  # noqa: E402
from arena.runtime.tournament import Standing  # noqa: E402
from arena.service.awards import award_tournament  # noqa: E402
from arena.store import accounts, bots, record, tournaments  # noqa: E402
from arena.store.db import make_engine, make_sessionmaker  # noqa: E402
from arena.store.migrate import upgrade  # noqa: E402
from arena.store.models import EntryStatus, FillRecord, TournamentStatus, VersionStatus  # noqa: E402

SYMBOLS = ["AAPL", "JPM", "XOM", "JNJ", "CAT", "KO", "AMZN", "GOOGL"]  # eight sectors


def finished_tournament(sessions, slug: str, n_bots: int, fills_each: int, rng: random.Random) -> int:
    with sessions.begin() as session:
        t = tournaments.create_tournament(session, slug, slug)
        tournaments.transition(session, t, TournamentStatus.OPEN)
        entries = []
        for i in range(n_bots):
            who = accounts.contestant_by_name(session, f"c{i}") or accounts.create_contestant(session, f"c{i}")
            bot = bots.bot_by_name(session, who, "b") or bots.create_bot(session, who, "b")
            version = bot.versions[0] if bot.versions else None
            if version is None:
                version = bots.add_version(session, bot, sha256=hashlib.sha256(str(i).encode()).hexdigest(),
                                           size_bytes=1, file_count=1, storage_path="bench")  # fmt: skip
                bots.set_version_verdict(session, version, VersionStatus.READY, "ok")
            entries.append(tournaments.enter(session, t, version, who))
        tournaments.transition(session, t, TournamentStatus.RUNNING)
        session.flush()
        rows, order = [], 0
        for entry in entries:
            entry.status = EntryStatus.FINISHED
            for k in range(fills_each):  # eight buys (one per sector), eight sells, and again
                order += 1
                rows.append({"tournament_id": t.id, "entry_id": entry.id, "order_id": order, "ts": k,
                             "symbol": SYMBOLS[k % 8], "side": "buy" if (k // 8) % 2 == 0 else "sell", "qty": 10.0,
                             "price": 100.0 + rng.random(), "fee": 0.0, "maker": False, "filled_qty": 10.0,
                             "remaining": 0.0})  # fmt: skip
        session.execute(insert(FillRecord.__table__), rows)
        scores = {e.bot_key: rng.random() for e in entries}
        ranks = {r.bot: r.rank for r in competition_ranks(scores)}
        standings = [Standing(key, ranks[key], score, score, 0.01, "finished") for key, score in scores.items()]
        record.record_standings(session, t, {e.bot_key: e.id for e in entries}, standings, trades={}, fees={})
        tournaments.transition(session, t, TournamentStatus.FINISHED)
        return t.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--fills", type=int, default=1000, help="per bot")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary folder")
    parser.add_argument("--postgres", action="store_true", help="on a throwaway PostgreSQL server")
    args = parser.parse_args()
    if args.postgres:
        from arena.store.pgserver import PostgresServer

        server = PostgresServer().start()
        try:
            measure(args, server.create_database("bench"))
        finally:
            server.stop()
    else:
        measure(args, args.database_url)


def measure(args: argparse.Namespace, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = database_url or f"sqlite:///{folder}/bench.db"
        upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        rng = random.Random(7)
        awards, reads = [], []
        for run in range(args.runs):
            t_id = finished_tournament(sessions, f"bench-{run}-{rng.randrange(1 << 30)}", args.bots, args.fills, rng)
            start = time.perf_counter()
            with sessions() as session:
                got = len(session.execute(select(FillRecord.entry_id, FillRecord.symbol, FillRecord.side,
                                                 FillRecord.qty, FillRecord.price)
                                          .where(FillRecord.tournament_id == t_id)).all())  # fmt: skip
            reads.append(time.perf_counter() - start)
            assert got == args.bots * args.fills
            start = time.perf_counter()
            done = award_tournament(sessions, t_id)
            awards.append(time.perf_counter() - start)
            assert done is not None and len(done.ratings) == args.bots
        engine.dispose()
    ratios = [a / r for a, r in zip(awards, reads, strict=True)]
    print(json.dumps({
        "database": url.split(":", 1)[0], "bots": args.bots, "fills": args.bots * args.fills, "runs": args.runs,
        "award_s": [round(x, 3) for x in awards], "award_s_median": round(statistics.median(awards), 3),
        "read_fills_once_s": [round(x, 3) for x in reads],
        "ratio_award_over_read": [round(x, 2) for x in ratios], "ratio_median": round(statistics.median(ratios), 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
