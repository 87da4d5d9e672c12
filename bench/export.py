"""Exporting a tournament's record (``arena.store.export``). Prints one JSON object.

Not part of the test run. The record is generated straight into a fresh SQLite store (no engine runs): a finished
tournament of ``--ticks`` ticks (default 10,000) over ``--symbols`` symbols (default 51, the whole catalog, as a
tournament without a symbol list trades), ``--bots`` entries (default 100), each with an order and its fill every
10 ticks, a rejection every 100 and the recorder's ~1,000 equity samples, and its standings.

- export_s: the whole record exported to Parquet (``arena.store.export``, what ``arena export`` runs) in a child
  process, after its imports (``imports_s``, paid once per process): wall seconds, ``export_cpu_s`` its CPU seconds
  (on a loaded machine, the figure that says what a quiet one would take), ``rows_per_second`` over every table,
  ``export_peak_rss_mib`` the child's peak RSS (``rss_before_export_mib`` of it is the imports); ``csv_export_s``
  the same to CSV.
- peer_write_s, the limit: pyarrow writing the same rows, already in memory as Arrow tables, to Parquet with the
  same compression. ``ratio`` = export_s / peer_write_s: what reading the database and building the batches costs;
  ``cpu_ratio`` the same in CPU seconds (steadier on a loaded machine).
  Target: export_s < 5.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

CHUNK = 50_000  # rows per insert of the generated record
FLUSH_TICKS = 50  # the recorder's batch of whole ticks (arena.service.recorder; importing it here would find
# bench/sandbox.py for the sandbox package)


def generate(url: str, ticks: int, symbols: int, bots: int) -> dict[str, int]:
    """A finished tournament ``bench`` with its whole record, written in chunks; rows per table."""
    from arena.catalog import load_catalog
    from arena.engine.book import L2Book
    from arena.engine.tick import Tick
    from arena.store import accounts, record, tournaments
    from arena.store import bots as bot_repo
    from arena.store.db import make_engine, make_sessionmaker
    from arena.store.migrate import upgrade
    from arena.store.models import (
        Base,
        EquitySnapshot,
        FillRecord,
        OrderRecord,
        RejectionRecord,
        StandingRecord,
        TournamentStatus,
        VersionStatus,
    )

    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    names = sorted(load_catalog())[:symbols]
    rng = random.Random(7)
    t0, step = 1_772_461_800_000, 60_000
    with sessions.begin() as session:
        t = tournaments.create_tournament(session, "bench", "Export bench", ticks=ticks)
        tournaments.transition(session, t, TournamentStatus.OPEN)
        for i in range(bots):
            who = accounts.create_contestant(session, f"c{i:03d}")
            bot = bot_repo.create_bot(session, who, "bot")
            version = bot_repo.add_version(session, bot, sha256=f"{i:064x}", size_bytes=1, file_count=1,
                                           storage_path=f"blobs/{i}")  # fmt: skip
            bot_repo.set_version_verdict(session, version, VersionStatus.READY, "ok")
            tournaments.enter(session, t, version, who)
        tournaments.transition(session, t, TournamentStatus.RUNNING)
        session.flush()
        t_id, entries = t.id, sorted(tournaments.entry_map(session, t).values())
    counts = dict.fromkeys(("ticks", "orders", "fills", "rejections", "equity", "standings"), 0)

    def put(model: type[Base], rows: list[dict[str, object]], name: str) -> None:
        with sessions.begin() as session:
            session.execute(insert(model.__table__), rows)
        counts[name] += len(rows)
        rows.clear()

    # The market as the recorder writes it: a batch of 50 whole ticks at a time (its FLUSH_TICKS).
    mids = {s: 100.0 + 10 * k for k, s in enumerate(names)}
    batch: list[tuple[int, Tick]] = []
    for n in range(1, ticks + 1):
        books = []
        for s in names:
            mids[s] *= 1 + rng.gauss(0, 5e-4)
            bid, ask = round(mids[s] - 0.01, 2), round(mids[s] + 0.01, 2)
            books.append(L2Book(s, t0 + n * step, ((bid, 100.0 * rng.randint(1, 50)),),
                                ((ask, 100.0 * rng.randint(1, 50)),), bid if n % 2 else ask,
                                float(rng.randint(0, 100_000))))  # fmt: skip
        batch.append((n, Tick(t0 + n * step, tuple(books))))
        if len(batch) == FLUSH_TICKS or n == ticks:
            with sessions.begin() as session:
                counts["ticks"] += record.record_ticks(session, t_id, batch)
            batch = []
    order_id = 0
    orders: list[dict[str, object]] = []
    fills: list[dict[str, object]] = []
    for n in range(10, ticks + 1, 10):
        ts = t0 + n * step
        for e in entries:
            order_id += 1
            side, qty, price = ("buy", "sell")[(n + e) % 2], float(1 + e % 7), 100.0 + rng.random()
            orders.append({"tournament_id": t_id, "entry_id": e, "order_id": order_id, "client_order_id": f"o{n}",
                           "symbol": names[e % len(names)], "side": side, "type": "market", "tif": "day", "qty": qty,
                           "limit_price": None, "stop_price": None, "status": "filled", "filled_qty": qty,
                           "fees": 0.01 * qty, "ts": ts, "done_ts": ts, "reason": ""})  # fmt: skip
            fills.append({"tournament_id": t_id, "entry_id": e, "order_id": order_id, "client_order_id": f"o{n}",
                          "ts": ts, "symbol": names[e % len(names)], "side": side, "qty": qty, "price": price,
                          "fee": 0.01 * qty, "maker": False, "filled_qty": qty, "remaining": 0.0,
                          "liquidation": False})  # fmt: skip
        if len(orders) >= CHUNK:
            put(OrderRecord, orders, "orders")
            put(FillRecord, fills, "fills")
    if orders:
        put(OrderRecord, orders, "orders")
        put(FillRecord, fills, "fills")
    put(RejectionRecord, [{"tournament_id": t_id, "entry_id": e, "ts": t0 + n * step, "client_order_id": f"r{n}",
                           "symbol": "NOPE", "code": "UNKNOWN_SYMBOL", "message": "no such symbol"}
                          for n in range(100, ticks + 1, 100) for e in entries], "rejections")  # fmt: skip
    every = max(1, math.ceil(ticks / 1000))
    for e in entries:
        nav = 1_000_000.0
        samples: list[dict[str, object]] = []
        for n in range(every, ticks + 1, every):
            nav *= 1 + rng.gauss(0, 1e-3)
            samples.append({"tournament_id": t_id, "entry_id": e, "ts": t0 + n * step, "nav": nav,
                            "drawdown": rng.random() * 0.1, "score": nav * 0.95})  # fmt: skip
        put(EquitySnapshot, samples, "equity")
    put(StandingRecord, [{"tournament_id": t_id, "entry_id": e, "rank": k + 1, "score": 1e6 - k, "nav": 1e6 - k,
                          "max_drawdown": 0.01, "status": "finished", "trades": ticks // 10, "fees": 1.0}
                         for k, e in enumerate(entries)], "standings")  # fmt: skip
    with sessions.begin() as session:
        t = tournaments.get_tournament(session, t_id)
        t.recorded_tick = ticks
        tournaments.transition(session, t, TournamentStatus.FINISHED)
    engine.dispose()
    return counts


def export_once(url: str, out: Path, fmt: str) -> dict[str, float]:
    """One export in this process: seconds, rows, peak RSS (MiB), and the imports' seconds before it (pyarrow's
    first conversion imports pandas): paid once by a process, as by the API's, so timed apart."""
    started = time.perf_counter()
    import pyarrow as pa

    from arena.store.db import make_engine, make_sessionmaker
    from arena.store.export import export

    pa.array([0.0])
    imports_s = time.perf_counter() - started
    baseline_mib = _peak_rss_mib()

    engine = make_engine(url)
    sessions = make_sessionmaker(engine, read_only=True)
    started, cpu = time.perf_counter(), time.process_time()
    done = export(sessions, "bench", out, fmt)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    engine.dispose()
    return {"seconds": took, "cpu_s": cpu, "rows": sum(done.rows.values()), "imports_s": imports_s,
            "baseline_rss_mib": baseline_mib,
            "peak_rss_mib": _peak_rss_mib()}  # fmt: skip


def _peak_rss_mib() -> float:
    """This process's peak RSS since it started (VmHWM: getrusage's ru_maxrss would carry the parent's over the
    fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _in_child(url: str, out: Path, fmt: str) -> dict[str, float]:
    text = subprocess.run([sys.executable, __file__, "--child", url, str(out), fmt], check=True,
                          capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(text)


def peer_write(folder: Path) -> tuple[float, float]:
    """pyarrow writing the exported rows, already in memory, to Parquet (zstd, like the export): wall and CPU s."""
    import pyarrow.parquet as pq

    tables = [pq.read_table(path) for path in sorted(folder.glob("*.parquet"))]
    started, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as peer:
        for k, table in enumerate(tables):
            pq.write_table(table, Path(peer) / f"{k}.parquet", compression="zstd")
    return time.perf_counter() - started, time.process_time() - cpu


def _spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"min": round(ordered[0], 3), "median": round(ordered[len(ordered) // 2], 3), "max": round(ordered[-1], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=10_000)
    parser.add_argument("--symbols", type=int, default=51)
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="exports of the one generated record (spread)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, out, fmt = args.child
        print(json.dumps(export_once(url, Path(out), fmt)))
        return
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/arena.db"
        started = time.perf_counter()
        rows = generate(url, args.ticks, args.symbols, args.bots)
        generated_s = time.perf_counter() - started
        for k in range(args.runs):
            parquet = _in_child(url, Path(tmp) / f"parquet{k}", "parquet")
            csv = _in_child(url, Path(tmp) / f"csv{k}", "csv")
            peer_s, peer_cpu_s = peer_write(Path(tmp) / f"parquet{k}")
            runs.append({"export_s": parquet["seconds"], "rows": parquet["rows"], "rss": parquet["peak_rss_mib"],
                         "imports_s": parquet["imports_s"], "cpu_s": parquet["cpu_s"],
                         "baseline": parquet["baseline_rss_mib"], "csv_cpu_s": csv["cpu_s"],
                         "csv_s": csv["seconds"], "csv_rss": csv["peak_rss_mib"], "peer_s": peer_s,
                         "peer_cpu_s": peer_cpu_s})
        sizes = sum(p.stat().st_size for p in (Path(tmp) / "parquet0").iterdir())
    total = int(runs[0]["rows"])
    print(json.dumps({
        "ticks": args.ticks, "symbols": args.symbols, "bots": args.bots, "rows": rows, "total_rows": total,
        "generate_s": round(generated_s, 2), "runs": args.runs,
        "export_s": _spread([r["export_s"] for r in runs]),
        "rows_per_second": _spread([total / r["export_s"] for r in runs]),
        "export_cpu_s": _spread([r["cpu_s"] for r in runs]),
        "export_peak_rss_mib": _spread([r["rss"] for r in runs]),
        "rss_before_export_mib": _spread([r["baseline"] for r in runs]),
        "imports_s": _spread([r["imports_s"] for r in runs]),
        "csv_export_s": _spread([r["csv_s"] for r in runs]),
        "csv_export_cpu_s": _spread([r["csv_cpu_s"] for r in runs]),
        "csv_peak_rss_mib": _spread([r["csv_rss"] for r in runs]),
        "peer_write_s": _spread([r["peer_s"] for r in runs]),
        "ratio": _spread([r["export_s"] / r["peer_s"] for r in runs]),
        "peer_write_cpu_s": _spread([r["peer_cpu_s"] for r in runs]),
        "cpu_ratio": _spread([r["cpu_s"] / r["peer_cpu_s"] for r in runs]),
        "parquet_bytes": sizes, "target_export_s": 5.0, "python": platform.python_version(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
