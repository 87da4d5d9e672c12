#!/usr/bin/env python3
"""A simulated Arena cluster on one machine, out of Linux network namespaces, and the faults it survives.

Run as root from the project's venv:  .venv/bin/python scripts/cluster.py [--bots 40] [--ticks 600] [--json]

It builds these namespaces, joined by veth pairs to a bridge inside a namespace of their own, on the private
range 10.231.7.0/24 (nothing leaves this machine; the host's own network is not touched):

    ctl 10.231.7.1   this script's driver (it re-runs itself in there)
    data .2          Redis (append-only file, everysec) and PostgreSQL
    api .3           arena serve
    eng1 .4, eng2 .5 two engine workers (arena worker --queues engine)
    host1 .6, host2 .7 two bot hosts (arena worker --queues bots)

Then, with a tournament of ``--bots`` bots running (the example bots, entered by several contestants):

1. kill -9 the engine worker holding it: the spare takes it over (the time from the kill to the next tick is
   reported), and its final standings and record equal those of an uninterrupted run with the same seed;
2. restart the API: the tournament goes on meanwhile and a spectator's stream resumes after the restart;
3. restart Redis: the tournament pauses and finishes;
4. in a second tournament, kill -9 a bot host: its bots end host_fault, the others finish.

Every process dies with the script (a parent-death signal), and the namespaces are deleted at the end. It
prints a report (``--json``: one JSON object); the exit code is 0 when every check held.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.polling import wait_until  # noqa: E402  (the project's root is on the path only now)
from tests.records import the_record  # noqa: E402

NET = "10.231.7"
NODES = {"ctl": 1, "data": 2, "api": 3, "eng1": 4, "eng2": 5, "host1": 6, "host2": 7}
REDIS_PORT, PG_PORT, API_PORT = 6379, 5432, 8000
LEASE_TTL_S = 3.0
SYMBOLS = ["SPY", "AAPL", "MSFT", "NVDA", "BTC-USD", "ETH-USD"]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


# -- the network (run on the host, as root) ------------------------------------------------------------------


def build_network(prefix: str) -> None:
    switch = f"{prefix}-sw"
    ip("netns", "add", switch)
    ip("-n", switch, "link", "set", "lo", "up")
    ip("-n", switch, "link", "add", "br0", "type", "bridge")
    ip("-n", switch, "link", "set", "br0", "up")
    for node, last in NODES.items():
        ns = f"{prefix}-{node}"
        ip("netns", "add", ns)
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", switch, "link", "add", f"v-{node}", "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("-n", switch, "link", "set", f"v-{node}", "master", "br0", "up")
        ip("-n", ns, "addr", "add", f"{NET}.{last}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")


def delete_network(prefix: str) -> None:
    for ns in [f"{prefix}-sw", *(f"{prefix}-{node}" for node in NODES)]:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def stale_prefixes() -> list[str]:
    """Namespaces an earlier run left (its driver was killed): ``arena-cl-<pid>`` whose pid is gone."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    prefixes = {"-".join(name.split("-")[:3]) for name in out if name.startswith("arena-cl-")}
    return [p for p in prefixes if not Path(f"/proc/{p.rsplit('-', 1)[1]}").exists()]


# -- the driver (runs inside the ctl namespace) ----------------------------------------------------------------


class Cluster:
    def __init__(self, prefix: str, workdir: Path) -> None:
        from arena.children import spawn

        self.spawn, self.prefix, self.workdir = spawn, prefix, workdir
        self.redis_url = f"redis://{NET}.2:{REDIS_PORT}/0"
        self.database_url = f"postgresql+psycopg://arena@{NET}.2:{PG_PORT}/arena"
        self.api_url = f"http://{NET}.3:{API_PORT}"
        self.env = os.environ | {"ARENA_REDIS_URL": self.redis_url, "ARENA_DATABASE_URL": self.database_url,
                                 "ARENA_DATA_DIR": str(workdir / "data"), "ARENA_LEASE_TTL_S": str(LEASE_TTL_S),
                                 "ARENA_RATE_LIMIT": "100000"}  # fmt: skip
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.arena = [str(Path(sys.executable).parent / "arena")]

    def start(self, name: str, node: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        # nsenter switches the network namespace only: `ip netns exec` would also remount /sys, hiding the cgroup
        # hierarchies the bot hosts put their sandboxes in. It execs the command (the pid stays the same).
        process = self.spawn(["nsenter", f"--net=/run/netns/{self.prefix}-{node}", "--", *command], env=self.env,
                             stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        self.processes[name] = process
        return process

    def stop(self, name: str, sig: int = signal.SIGTERM, wait_s: float = 15.0) -> None:
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop_all(self) -> None:
        for name in list(self.processes):  # workers first, the data plane last
            if not name.startswith(("redis", "postgres")):
                self.stop(name)
        for name in list(self.processes):
            self.stop(name)

    # -- the planes ------------------------------------------------------------------------------------------

    def start_redis(self) -> None:
        (self.workdir / "redis").mkdir(exist_ok=True)
        self.start("redis", "data", [shutil.which("redis-server") or "redis-server", "--bind", f"{NET}.2",
                                     "--port", str(REDIS_PORT), "--save", "", "--appendonly", "yes",
                                     "--appendfsync", "everysec", "--dir", str(self.workdir / "redis"),
                                     "--protected-mode", "no"])  # fmt: skip
        wait_until("Redis answers", self._redis_up, 20)

    def _redis_up(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.redis_url, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def start_postgres(self) -> None:
        self.start("postgres", "data", [sys.executable, __file__, "--postgres"])
        wait_until("PostgreSQL answers", self._postgres_up, 60)

    def _postgres_up(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(host=f"{NET}.2", port=PG_PORT, user="arena", dbname="arena", connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def start_api(self) -> None:
        self.start("api", "api", [*self.arena, "serve", "--host", f"{NET}.3", "--port", str(API_PORT)])
        wait_until("the API answers", lambda: _get(self.api_url + "/readyz") == 200, 60)

    def start_worker(self, name: str, node: str, queues: str, slots: int) -> None:
        self.start(name, node, [*self.arena, "worker", "--queues", queues, "--slots", str(slots), "--name", name])

    def await_hosts(self, names: set[str]) -> None:
        import redis

        from arena.runtime import hosts

        client = redis.Redis.from_url(self.redis_url)
        wait_until("bot hosts announced", lambda: names <= {h.name for h in hosts.live_hosts(client)}, 60)
        client.close()


def _get(url: str) -> int:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError:
        return 0


def serve_postgres() -> None:
    """Inside the data namespace: PostgreSQL on its address, trusted from the cluster's range, until SIGTERM."""
    from arena.store.pgserver import PostgresServer

    server = PostgresServer(host=f"{NET}.2", allow=f"{NET}.0/24", port=PG_PORT).start()
    server.create_database("arena")

    def stop(*_: object) -> None:
        server.stop()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.pause()


def enter_tournament(sessions: Any, slug: str, bots: int, ticks: int, seed: int) -> int:
    """A running tournament of ``bots`` entries: the example bots, each entered by as many contestants as it
    takes (contestant c enters bot b as c's bot)."""
    from arena.store import accounts
    from arena.store import bots as bot_repo
    from arena.store import tournaments as repo
    from arena.store.models import TournamentStatus, VersionStatus

    examples = sorted((ROOT / "examples" / "bots").glob("*.py"))
    with sessions.begin() as session:
        t = repo.create_tournament(session, slug, slug, feed=f"synthetic:{seed}", seed=seed, ticks=ticks,
                                   rules={"symbols": SYMBOLS}, tick_deadline_s=30.0)  # fmt: skip
        repo.transition(session, t, TournamentStatus.OPEN)
        for i in range(bots):
            path = examples[i % len(examples)]
            who = f"trader{i // len(examples)}"
            owner = accounts.contestant_by_name(session, who) or accounts.create_contestant(session, who)
            name = path.stem.replace("_", "-")
            bot = bot_repo.bot_by_name(session, owner, name) or bot_repo.create_bot(session, owner, name)
            version = bot_repo.latest_ready_version(session, bot)
            if version is None:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                version = bot_repo.add_version(session, bot, sha256=digest, size_bytes=path.stat().st_size,
                                               file_count=1, storage_path=str(path))  # fmt: skip
                bot_repo.set_version_verdict(session, version, VersionStatus.READY)
            repo.enter(session, t, version, owner)
        repo.transition(session, t, TournamentStatus.RUNNING)
        return t.id


def first_divergence(sessions: Any, expected_id: int, got_id: int) -> dict[str, Any]:
    """Where two runs' records part: for each kind of row, the first one (in time order) of any bot that
    differs, with the rows around it from each run. Ids differ between runs, so rows are compared by their content."""
    from sqlalchemy import select

    from arena.store import tournaments as repo
    from arena.store.models import EquitySnapshot, FillRecord, OrderRecord, RejectionRecord

    columns = {
        OrderRecord: ("ts", "client_order_id", "symbol", "side", "type", "qty", "limit_price", "status", "filled_qty"),
        FillRecord: ("ts", "client_order_id", "symbol", "side", "qty", "price"),
        RejectionRecord: ("ts", "client_order_id", "symbol", "code"),
        EquitySnapshot: ("ts", "nav"),
    }

    def rows(tid: int, model: Any, names: tuple[str, ...]) -> dict[str, list[tuple[Any, ...]]]:
        with sessions.begin() as session:
            keys = {e.id: e.bot_key for e in repo.get_tournament(session, tid).entries}
            out: dict[str, list[tuple[Any, ...]]] = {}
            for row in session.scalars(select(model).where(model.tournament_id == tid).order_by(model.id)):
                out.setdefault(keys[row.entry_id], []).append(tuple(str(getattr(row, n)) for n in names))
            return {k: sorted(v, key=lambda r: int(r[0])) for k, v in out.items()}

    found: dict[str, Any] = {}
    for model, names in columns.items():
        a, b = rows(expected_id, model, names), rows(got_id, model, names)
        first: tuple[int, str, Any, Any] | None = None
        for bot in sorted(set(a) | set(b)):
            left, right = a.get(bot, []), b.get(bot, [])
            for i in range(max(len(left), len(right))):
                x = left[i] if i < len(left) else None
                y = right[i] if i < len(right) else None
                if x != y:
                    row = x if x is not None else y
                    assert row is not None  # x != y, so at least one is there
                    ts = int(row[0])
                    if first is None or ts < first[0]:
                        first = (ts, bot, left[max(0, i - 2):i + 3], right[max(0, i - 2):i + 3])
                    break
        if first is not None:
            found[model.__tablename__] = {"ts": first[0], "bot": first[1], "columns": names,
                                          "uninterrupted": first[2], "faulted": first[3]}  # fmt: skip
    return found


class Spectator:
    """An SSE client of the leaderboard stream that reconnects with Last-Event-ID, as a browser does."""

    def __init__(self, url: str) -> None:
        import threading

        self.url, self.last_id, self.reconnects = url, "", 0
        self.ids: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import httpx

        while not self._stop.is_set():
            headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
            try:
                with httpx.stream("GET", self.url, headers=headers, timeout=30) as stream:
                    for line in stream.iter_lines():
                        if line.startswith("id: "):
                            self.last_id = line[4:]
                            self.ids.append(self.last_id)
                        if self._stop.is_set():
                            return
            except httpx.HTTPError:
                pass
            self.reconnects += 1
            self._stop.wait(0.5)  # a browser's EventSource retries after a moment too

    def close(self) -> None:
        self._stop.set()


def drive(prefix: str, bots: int, ticks: int) -> dict[str, Any]:
    import redis

    from arena.runtime.bus import Bus
    from arena.runtime.lease import holder
    from arena.service import tasks
    from arena.store import tournaments as repo
    from arena.store.db import make_engine, make_sessionmaker
    from arena.store.migrate import upgrade
    from arena.store.models import TournamentStatus

    workdir = Path(tempfile.mkdtemp(prefix="arena-cluster-"))
    cluster = Cluster(prefix, workdir)
    report: dict[str, Any] = {"bots": bots, "ticks": ticks, "logs": str(workdir), "checks": {}}
    checks = report["checks"]
    try:
        cluster.start_redis()
        cluster.start_postgres()
        upgrade(cluster.database_url)
        engine = make_engine(cluster.database_url)
        sessions = make_sessionmaker(engine)
        cluster.start_api()
        slots = (bots + 1) // 2 + 4
        cluster.start_worker("host1", "host1", "bots", slots)
        cluster.start_worker("host2", "host2", "bots", slots)
        cluster.start_worker("eng1", "eng1", "engine", 2)
        cluster.start_worker("eng2", "eng2", "engine", 2)
        cluster.await_hosts({"host1", "host2"})
        tasks.configure(cluster.redis_url)
        client = redis.Redis.from_url(cluster.redis_url)

        def status(tid: int) -> TournamentStatus:
            with sessions.begin() as session:
                return repo.get_tournament(session, tid).status

        def tick(slug: str) -> int:
            with contextlib.suppress(redis.RedisError):
                progress = Bus(client, slug).progress()
                return progress[0] if progress else 0
            return 0

        # The reference: the same seed and bots, uninterrupted.
        started = time.monotonic()
        reference = enter_tournament(sessions, "reference", bots, ticks, seed=11)
        tasks.conduct.delay(reference)
        wait_until("the reference run ends", lambda: status(reference) is not TournamentStatus.RUNNING, 600)
        report["reference_s"] = round(time.monotonic() - started, 1)

        faults = enter_tournament(sessions, "faults", bots, ticks, seed=11)
        tasks.conduct.delay(faults)
        spectator = Spectator(f"{cluster.api_url}/api/v1/tournaments/faults/leaderboard/stream")

        # 1. kill -9 the engine worker running it.
        wait_until("tick 10", lambda: tick("faults") >= 10, 300)
        owner = holder(client, "faults") or ""
        victim = "eng1" if cluster.processes["eng1"].pid == _holder_pid(owner) else "eng2"
        killed_at_tick, killed = tick("faults"), time.monotonic()
        cluster.stop(victim, signal.SIGKILL)
        wait_until("the next tick after the kill", lambda: tick("faults") > killed_at_tick + 1, 120)
        report["takeover_s"] = round(time.monotonic() - killed, 2)
        report["killed_engine"] = victim

        # 2. restart the API: the tournament goes on without it; the spectator resumes.
        seen = len(spectator.ids)
        at = tick("faults")
        cluster.stop("api", signal.SIGKILL)
        wait_until("ticks while the API is down", lambda: tick("faults") >= at + 5, 120)
        cluster.start_api()
        wait_until("the spectator resumes", lambda: len(spectator.ids) > seen + 1, 60)
        checks["tournament_went_on_without_the_api"] = tick("faults") >= at + 5
        checks["spectator_resumed"] = spectator.reconnects >= 1 and len(spectator.ids) > seen

        # 3. restart Redis: the tournament pauses and goes on.
        if status(faults) is not TournamentStatus.RUNNING:
            raise RuntimeError("the tournament ended before the Redis restart: give it more ticks (--ticks)")
        at = tick("faults")
        down = time.monotonic()
        cluster.stop("redis")
        time.sleep(2.0)  # Redis stays down for two seconds: the scenario, not a synchronisation
        cluster.start_redis()
        wait_until("a tick after Redis is back", lambda: tick("faults") > at + 1, 120)
        report["redis_pause_s"] = round(time.monotonic() - down, 2)
        report["fault_ticks"] = {"engine_kill": killed_at_tick, "redis_restart": at}
        wait_until("the faulted run ends", lambda: status(faults) is not TournamentStatus.RUNNING, 600)
        spectator.close()
        expected, got = the_record(sessions, reference), the_record(sessions, faults)
        checks["finished"] = got["status"] == "finished"
        checks["standings_equal_the_uninterrupted_run"] = got["standings"] == expected["standings"]
        checks["record_equals_the_uninterrupted_run"] = got == expected
        if got != expected:  # say where, for whoever reads the report
            report["differences"] = {key: {"uninterrupted": expected[key], "faulted": got[key]}
                                     for key in expected if got.get(key) != expected[key] and key != "standings"}
            report["differences"]["first"] = first_divergence(sessions, reference, faults)
            report["differences"]["standings"] = [[a, b] for a, b in zip(expected["standings"], got["standings"],
                                                                          strict=False) if a != b][:5]

        # 4. a second tournament: kill -9 a bot host.
        lost = enter_tournament(sessions, "host-lost", bots, min(ticks, 300), seed=12)
        tasks.conduct.delay(lost)
        wait_until("tick 10", lambda: tick("host-lost") >= 10, 300)
        cluster.stop("host2", signal.SIGKILL)
        wait_until("the run ends", lambda: status(lost) is not TournamentStatus.RUNNING, 600)
        placement = json.loads(client.get("arena:{host-lost}:placement") or "{}")
        ends = {bot: (state, why) for bot, state, why in the_record(sessions, lost)["entries"]}
        on_lost = [b for b, h in placement.items() if h == "host2"]
        checks["lost_hosts_bots_host_fault"] = bool(on_lost) and all(ends[b] == ("out", "host_fault") for b in on_lost)
        checks["other_bots_finished"] = all(ends[b][0] == "finished" for b, h in placement.items() if h == "host1")
        checks["host_lost_run_finished"] = status(lost) is TournamentStatus.FINISHED
        client.close()
        engine.dispose()
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        cluster.stop_all()
    report["ok"] = "error" not in report and all(checks.values())
    return report


def _holder_pid(owner: str) -> int | None:
    """The lease names its holder as host:pid:thread#token; the pid is the worker's own (nsenter execs it): the
    same pid as the process the driver started."""
    try:
        return int(owner.split(":")[1])
    except (IndexError, ValueError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bots", type=int, default=40)
    # Long enough that the tournament still runs when the third fault comes, however fast the machine (at 300 an
    # unloaded CI machine finished it during the API restart).
    parser.add_argument("--ticks", type=int, default=600)
    parser.add_argument("--json", action="store_true", help="print only the report, as one JSON object")
    parser.add_argument("--drive", metavar="PREFIX", help=argparse.SUPPRESS)  # inside the ctl namespace
    parser.add_argument("--postgres", action="store_true", help=argparse.SUPPRESS)  # inside the data namespace
    args = parser.parse_args()
    if args.postgres:
        serve_postgres()
        return 0
    if args.drive:
        print(json.dumps(drive(args.drive, args.bots, args.ticks)))
        return 0
    if os.geteuid() != 0:
        print("scripts/cluster.py builds network namespaces: run it as root", file=sys.stderr)
        return 2
    for stale in stale_prefixes():
        delete_network(stale)
    prefix = f"arena-cl-{os.getpid()}"
    try:
        build_network(prefix)
        driver = [sys.executable, __file__, "--drive", prefix, "--bots", str(args.bots), "--ticks", str(args.ticks)]
        answer = subprocess.run(["nsenter", f"--net=/run/netns/{prefix}-ctl", "--", *driver], stdout=subprocess.PIPE,
                                text=True)  # fmt: skip
    finally:
        delete_network(prefix)
    lines = answer.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines else {"ok": False, "error": "the driver printed nothing"}
    if args.json:
        print(json.dumps(report))
    else:
        print(json.dumps(report, indent=2))
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
