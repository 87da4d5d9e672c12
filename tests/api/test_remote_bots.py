"""Remote bots through the bot gateway, against a real `arena serve --embedded` process (its engine worker and bot
host as child processes), real Redis and SQLite: signed handshakes and their refusals, a remote bot trading in a
practice tournament with its backtest's score, lines judged as a sandboxed bot's, the lockstep deadline, and the
signed REST calls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from arena_bot.remote import WebSocket, signed_headers

from arena.api import gateway
from arena.catalog import load_catalog
from arena.runtime.backtest import BacktestResult, load_bot, run_backtest
from arena.runtime.redis_server import RedisServer, free_port
from arena.runtime.spec import TournamentSpec
from tests.api.conftest import enrol
from tests.api.test_service import admin_key
from tests.polling import wait_until
from tests.processes import stop

pytestmark = pytest.mark.sandbox  # `arena serve --embedded` starts a bot host, which runs as root

SYMBOLS = ["BTC-USD", "ETH-USD"]
GRACE_S = 20  # the engine's grace for a remote bot's dropped connection (ARENA_REMOTE_GRACE_S)
BOT = textwrap.dedent('''
    """Buys BTC on its 2nd tick, ETH on its 5th, sells BTC on its 9th: a few orders and fills to score."""
    from arena_bot import Bot, main


    class Trader(Bot):
        symbols = ("BTC-USD", "ETH-USD")

        def __init__(self):
            super().__init__()
            self.ticks = 0

        def on_tick(self, ts):
            self.ticks += 1
            if self.ticks == 2:
                self.buy("BTC-USD", 0.5)
            elif self.ticks == 5:
                self.buy("ETH-USD", 4)
            elif self.ticks == 9:
                self.sell("BTC-USD", 0.25)


    if __name__ == "__main__":
        raise SystemExit(main(Trader))  # over stdio in the sandbox; to the gateway where ARENA_GATEWAY is set
''')


class Site:
    replica: Callable[..., str]  # starts another API process on the same state (on ``port``, if given); its URL
    processes: dict[str, subprocess.Popen[bytes]]  # each API process by its URL
    redis_url: str

    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.client, self.admin, self.people = enrol(url, key, ("alice", "bob"))
        answer = self.client.post("/remote-keys", json={"name": "laptop"}, headers=self.people["alice"])
        assert answer.status_code == 201, answer.text
        self.key, self.secret = answer.json()["key_id"], answer.json()["secret"]
        assert self.key.startswith("rk_") and self.secret.startswith("rs_")

    def tournament(self, slug: str, rules: dict[str, Any], *, ticks: int = 12, deadline_s: float = 2.0,
                   start: bool = True, enter: str | None = "trader") -> dict[str, Any]:  # fmt: skip
        spec = {"slug": slug, "name": slug, "feed": "synthetic:3", "ticks": ticks, "seed": 3,
                "tick_deadline_s": deadline_s, "rules": {"symbols": SYMBOLS, **rules}}  # fmt: skip
        created = self.client.post("/admin/tournaments", headers=self.admin, json=spec)
        assert created.status_code == 201, created.text
        assert self.client.post(f"/admin/tournaments/{slug}/open", headers=self.admin).status_code == 200
        if enter:
            entered = self.client.post(f"/tournaments/{slug}/entries", json={"bot": enter, "remote": True},
                                       headers=self.people["alice"])  # fmt: skip
            assert entered.status_code == 201, entered.text
            assert entered.json()["remote"] and entered.json()["version"] is None
        if start:
            assert self.client.post(f"/admin/tournaments/{slug}/start", headers=self.admin).status_code == 200
        return spec

    def gateway(self, slug: str, bot: str = "trader", via: str | None = None) -> str:
        return f"{(via or self.url).replace('http://', 'ws://')}/api/v1/gateway/{slug}/{bot}"

    def connect(self, slug: str, bot: str = "trader", via: str | None = None, **signing: Any) -> WebSocket:
        url = self.gateway(slug, bot, via)
        path = url.split("127.0.0.1", 1)[1].split(":", 1)[1].split("/", 1)[1]
        headers = signing.pop("headers", None) or signed_headers(signing.pop("key", self.key),
                                                                 signing.pop("secret", self.secret), "GET",
                                                                 "/" + path, **signing)  # fmt: skip
        return WebSocket(url, headers)

    def entry(self, slug: str, bot: str) -> dict[str, Any]:
        return next(e for e in self.client.get("/entries", headers=self.people["alice"]).json()["items"]
                    if e["tournament"] == slug and e["bot_key"] == f"alice:{bot}")  # fmt: skip

    def status(self, slug: str) -> str:
        return self.client.get(f"/admin/tournaments/{slug}", headers=self.admin).json()["status"]

    def finished(self, slug: str) -> None:
        wait_until(f"tournament {slug} finished", lambda: self.status(slug) == "finished", 120)

    def score(self, slug: str, bot_key: str) -> float:
        board = self.client.get(f"/tournaments/{slug}/leaderboard").json()
        return next(s["score"] for s in board["items"] if s["bot"] == bot_key)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    """`arena serve --embedded` as its own process, with a Redis of its own (other tests empty the shared one), for
    the whole module: each test has its own tournaments."""
    with RedisServer() as redis_server:
        yield from _site(tmp_path_factory.mktemp("remote"), redis_server.url)


def _site(tmp: Path, redis_url: str) -> Iterator[Site]:
    database = f"sqlite:///{tmp / 'arena.db'}"
    key = admin_key(database)  # migrates and creates the first admin
    env = os.environ | {"ARENA_DATABASE_URL": database, "ARENA_REDIS_URL": redis_url,
                        "ARENA_DATA_DIR": str(tmp / "data"), "ARENA_RATE_LIMIT": "1000000",
                        "ARENA_REMOTE_GRACE_S": str(GRACE_S)}  # fmt: skip
    processes: dict[str, subprocess.Popen[bytes]] = {}

    def serve(*args: str, port: int | None = None) -> str:
        """Another `arena serve` on the same database, Redis and data dir (a replica); its URL."""
        port = port or free_port()
        log = tmp / f"serve-{port}.log"
        url = f"http://127.0.0.1:{port}"
        processes[url] = subprocess.Popen([str(Path(sys.executable).parent / "arena"), "serve", "--port", str(port),
                                           *args], env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"),
                                          start_new_session=True)  # fmt: skip
        wait_until(f"arena serve on {url}; its log: {log}", lambda: _up(url), 60)
        return url

    try:
        site = Site(serve("--embedded"), key)
        site.replica, site.processes, site.redis_url = serve, processes, redis_url
        yield site
    finally:
        for process in processes.values():
            stop(process)


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def backtest(bot_file: Path, spec: dict[str, Any]) -> BacktestResult:
    """``bot_file`` under `arena backtest` on a tournament's spec and seed."""
    config, _ = TournamentSpec(id=spec["slug"], rules=spec["rules"], feed=spec["feed"], ticks=spec["ticks"],
                               seed=spec["seed"]).build(load_catalog())  # fmt: skip
    return run_backtest(load_bot(bot_file), load_catalog(), config.ruleset, config.ticks, seed=spec["seed"])


def messages(ws: WebSocket) -> Iterator[dict[str, Any]]:
    """Every message the host sends, line by line, until it closes."""
    while (data := ws.receive()) is not None:
        for line in data.split(b"\n"):
            if line.strip():
                yield json.loads(line)


def until(stream: Iterator[dict[str, Any]], kind: str, **match: Any) -> dict[str, Any]:
    return next(m for m in stream if m["type"] == kind and all(m.get(k) == v for k, v in match.items()))


def refusal(ws: WebSocket) -> tuple[str, int | None]:
    """(the error code the gateway sent, its close code)."""
    first = next(messages(ws))
    assert first["type"] == "error", first
    assert ws.receive() is None
    return first["code"], ws.close_code


def test_a_remote_bot_scores_as_the_same_file_in_a_sandbox_and_in_a_backtest(site: Site, tmp_path: Path) -> None:
    # Bob uploads the same file to run sandboxed in the same tournament: every bot faces the same market.
    uploaded = site.client.post("/bots/boxed/versions", files={"file": ("trader.py", BOT.encode())},
                                headers=site.people["bob"])  # fmt: skip
    assert uploaded.status_code == 202, uploaded.text
    version = wait_until("the sandboxed copy's smoke test", lambda: (v := site.client.get(
        "/bots/boxed/versions/1", headers=site.people["bob"]).json())["status"] != "pending" and v, 120)  # fmt: skip
    assert version["status"] == "ready", version
    spec = site.tournament("practice-1", {"practice": True}, start=False)
    entered = site.client.post("/tournaments/practice-1/entries", json={"bot": "boxed"}, headers=site.people["bob"])
    assert entered.status_code == 201, entered.text
    assert site.client.post("/admin/tournaments/practice-1/start", headers=site.admin).status_code == 200
    bot_file = tmp_path / "trader.py"
    bot_file.write_text(BOT)
    env = os.environ | {"ARENA_GATEWAY": site.gateway("practice-1"), "ARENA_KEY": site.key,
                        "ARENA_SECRET": site.secret}  # fmt: skip
    remote = subprocess.run([sys.executable, str(bot_file)], env=env, capture_output=True, timeout=120)
    assert remote.returncode == 0, remote.stderr.decode()[-2000:]
    site.finished("practice-1")
    entries = site.client.get("/entries", headers=site.people["alice"]).json()["items"]
    mine = next(e for e in entries if e["tournament"] == "practice-1")
    assert mine["status"] == "finished" and mine["remote"], mine
    fills = site.client.get(f"/entries/{mine['id']}/fills", headers=site.people["alice"]).json()["items"]
    assert len(fills) == 3, fills  # the bot's three orders were stamped with its account and filled
    # The same file under `arena backtest`, on the same spec and seed: the same score, bit for bit.
    result = backtest(bot_file, spec)
    assert len(result.fills) == 3
    assert site.score("practice-1", "alice:trader") == result.score == site.score("practice-1", "bob:boxed")


def test_handshakes_are_refused_with_codes(site: Site) -> None:
    site.tournament("practice-2", {"practice": True}, start=False)  # open, not running yet
    assert refusal(site.connect("practice-2")) == ("TOURNAMENT_NOT_RUNNING", 4409)
    assert refusal(site.connect("practice-2", secret="rs_not-the-secret")) == ("BAD_SIGNATURE", 4401)
    # Past the 300 s window either way, by more than a loaded machine takes between signing and checking.
    assert refusal(site.connect("practice-2", now=time.time() - 330)) == ("STALE_TIMESTAMP", 4401)
    assert refusal(site.connect("practice-2", now=time.time() + 330)) == ("STALE_TIMESTAMP", 4401)
    assert refusal(site.connect("practice-2", key="rk_" + "0" * 24)) == ("UNKNOWN_KEY", 4401)
    assert refusal(site.connect("practice-2", headers={"X-Arena-Key": site.key})) == ("UNAUTHENTICATED", 4401)
    # A signed handshake replayed, word for word: refused, though the first one was fine but for the timing.
    path = "/api/v1/gateway/practice-2/trader"
    headers = signed_headers(site.key, site.secret, "GET", path)
    assert refusal(site.connect("practice-2", headers=headers)) == ("TOURNAMENT_NOT_RUNNING", 4409)
    assert refusal(site.connect("practice-2", headers=headers)) == ("NONCE_REPLAYED", 4401)
    # Signed for another path (another tournament): the signature does not match.
    other = signed_headers(site.key, site.secret, "GET", "/api/v1/gateway/practice-1/trader")
    assert refusal(site.connect("practice-2", headers=other)) == ("BAD_SIGNATURE", 4401)
    # A tournament Alice has no remote entry in, and a bot she did not enter.
    site.tournament("practice-3", {"practice": True}, start=False, enter=None)
    assert refusal(site.connect("practice-3")) == ("NOT_ENTERED", 4404)
    assert refusal(site.connect("practice-2", bot="other")) == ("NOT_ENTERED", 4404)
    assert refusal(site.connect("no-such-cup")) == ("UNKNOWN_TOURNAMENT", 4404)


def test_ranked_tournaments_are_sandbox_only(site: Site) -> None:
    bad = site.client.post("/admin/tournaments", headers=site.admin, json={
        "slug": "ranked-bad", "name": "x", "rules": {"remote_bots": True}})  # fmt: skip
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "rules.remote_bots"
    site.tournament("ranked-1", {}, start=False, enter=None)
    entered = site.client.post("/tournaments/ranked-1/entries", json={"bot": "trader", "remote": True},
                               headers=site.people["alice"])  # fmt: skip
    assert entered.status_code == 409 and entered.json()["error"]["code"] == "REMOTE_NOT_ALLOWED"
    assert refusal(site.connect("ranked-1")) == ("REMOTE_NOT_ALLOWED", 4403)
    # A practice tournament may still shut remote bots out.
    site.tournament("practice-closed", {"practice": True, "remote_bots": False}, start=False, enter=None)
    assert refusal(site.connect("practice-closed")) == ("REMOTE_NOT_ALLOWED", 4403)


def test_malformed_and_oversized_lines_are_answered_with_codes_and_too_big_messages_close(site: Site) -> None:
    site.tournament("practice-lines", {"practice": True}, ticks=6)
    ws = site.connect("practice-lines")
    stream = messages(ws)
    hello = until(stream, "hello")
    assert hello["bot"] == "alice:trader" and hello["tournament"] == "practice-lines"
    assert hello["clock"] == "lockstep" and hello["tick_deadline_ms"] == 2000
    assert refusal(site.connect("practice-lines")) == ("ALREADY_CONNECTED", 4409)  # one connection per entry
    ws.send(b"not json\n" + b'{"type": "buy"}\n' + b'[1, 2]\n' + b'{"type": "order", "symbol": "' + b"S" * 40
            + b'"}\n' + b"\xff\xfe\n" + b'{"type": "log", "message": "' + b"x" * 70_000 + b'"}\n',
            opcode=0x2)  # binary: a text frame must be UTF-8 as a whole  # fmt: skip
    codes = [until(stream, "error")["code"] for _ in range(6)]
    assert codes == ["INVALID_JSON", "UNKNOWN_TYPE", "NOT_AN_OBJECT", "INVALID_MESSAGE", "INVALID_UTF8",
                     "LINE_TOO_LONG"]  # fmt: skip
    # The bot may not act for another account: context and account are dropped, the order is its own.
    ws.send(json.dumps({"type": "order", "symbol": "BTC-USD", "side": "buy", "qty": 0.1, "client_order_id": "a1",
                        "account": "bob:other", "context": "cup"}) + '\n{"type": "done", "n": 0}\n')  # fmt: skip
    accepted = until(stream, "order_update", client_order_id="a1")  # handled with tick 1 (after its deadline)
    assert accepted["status"] == "accepted"
    ws.send(b"x" * (1024 * 1024 + 1))  # one message over the gateway's cap: the connection is closed
    for _ in stream:
        pass
    assert ws.close_code == 1009
    site.finished("practice-lines")
    entry = next(e for e in site.client.get("/entries", headers=site.people["alice"]).json()["items"]
                 if e["tournament"] == "practice-lines")  # fmt: skip
    assert entry["status"] == "out" and entry["end_classification"] == "killed", entry
    fills = site.client.get(f"/entries/{entry['id']}/fills", headers=site.people["alice"]).json()["items"]
    assert [f["client_order_id"] for f in fills] == ["a1"]


def play(site: Site, slug: str, answer: Callable[[WebSocket, int], None]) -> tuple[dict[int, int], dict[str, int]]:
    """Connect as the bot and answer each tick with ``answer(ws, n)`` to the end: (each tick's time, each accepted
    order's time)."""
    ws = site.connect(slug)
    stream = messages(ws)
    until(stream, "hello")
    ws.send('{"type": "done", "n": 0}\n')
    ticks: dict[int, int] = {}
    accepted: dict[str, int] = {}
    for message in stream:
        if message["type"] == "order_update" and message["status"] == "accepted":
            accepted[message["client_order_id"]] = message["ts"]
        if message["type"] == "tick":
            ticks[message["n"]] = message["ts"]
            answer(ws, message["n"])
    assert ws.close_code == 1000  # the end: closed normally
    return ticks, accepted


def test_a_slow_remote_bot_misses_the_deadline_and_its_orders_wait_for_the_next_tick(site: Site) -> None:
    site.tournament("practice-slow", {"practice": True}, ticks=12, deadline_s=0.5)

    def answer(ws: WebSocket, n: int) -> None:
        order = {"type": "order", "symbol": "BTC-USD", "side": "buy", "qty": 0.01, "client_order_id": f"t{n}"}
        if n == 3:
            time.sleep(1.2)  # the slow bot under test (not a wait for anything): past tick 3's 0.5 s deadline
        if n in (2, 3):
            ws.send(json.dumps(order) + "\n" + json.dumps({"type": "done", "n": n}) + "\n")
        else:
            ws.send(json.dumps({"type": "done", "n": n}) + "\n")

    ticks, accepted = play(site, "practice-slow", answer)
    assert accepted["t2"] == ticks[2]  # on time: handled with its own tick
    assert accepted["t3"] > ticks[3] and accepted["t3"] in ticks.values()  # late: not in tick 3, in a later one
    site.finished("practice-slow")


def test_signed_rest_calls_for_orders_portfolio_and_market(site: Site) -> None:
    site.tournament("practice-rest", {"practice": True}, ticks=4, deadline_s=10.0)
    replica = site.replica()  # a second API process: REST calls reach the bot's connection whichever answers them

    def call(method: str, what: str, body: bytes = b"", **signing: Any) -> httpx.Response:
        path = f"/api/v1/remote/practice-rest/trader/{what}"
        headers = signed_headers(site.key, signing.pop("secret", site.secret), method, path, body=body)
        return httpx.request(method, f"{replica}{path}", content=body, headers=headers, timeout=10)

    order = json.dumps({"type": "order", "symbol": "BTC-USD", "side": "buy", "qty": 0.2, "client_order_id": "r1"})
    assert call("POST", "orders", order.encode()).json()["error"]["code"] == "NOT_CONNECTED"
    ws = site.connect("practice-rest")
    stream = messages(ws)
    until(stream, "hello")
    ws.send('{"type": "done", "n": 0}\n')
    until(stream, "tick", n=1)  # the engine now waits for this bot's done 1 (up to 10 s)
    placed = call("POST", "orders", order.encode())
    assert placed.status_code == 202 and placed.json()["client_order_id"] == "r1", placed.text
    assert placed.headers["RateLimit"] and placed.headers["RateLimit-Policy"]
    bad = call("POST", "orders", b'{"type": "order", "symbol": "' + b"S" * 40 + b'"}')
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "INVALID_MESSAGE"
    assert call("POST", "orders", b"[]").json()["error"]["code"] == "NOT_AN_OBJECT"
    assert call("POST", "orders", b'{"type": "done"}').json()["error"]["code"] == "UNKNOWN_TYPE"
    # The session tag goes through as the same protocol line: bounded at the boundary, judged by the engine.
    long_session = call("POST", "orders", order.replace('"qty"', f'"session": "{"x" * 40}", "qty"').encode())
    assert long_session.status_code == 422 and long_session.json()["error"]["code"] == "INVALID_MESSAGE"
    extended = json.dumps({"type": "order", "symbol": "BTC-USD", "side": "buy", "qty": 0.1, "order_type": "limit",
                           "limit_price": 1.0, "session": "extended", "client_order_id": "r2"})  # fmt: skip
    assert call("POST", "orders", extended.encode()).status_code == 202
    forged = call("POST", "orders", order.encode(), secret="rs_wrong")
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "BAD_SIGNATURE"
    ws.send('{"type": "done", "n": 1}\n')
    updates: dict[str, dict[str, Any]] = {}
    while not {"r1", "r2"} <= updates.keys():
        update = until(stream, "order_update")
        if update["status"] in ("filled", "rejected"):
            updates[update["client_order_id"]] = update
    filled = updates["r1"]
    assert filled["status"] == "filled", filled
    # A practice ruleset leaves extended hours off (and crypto has none): refused with its code, nothing changed.
    assert updates["r2"]["code"] == "EXTENDED_HOURS_NOT_ALLOWED", updates["r2"]
    until(stream, "tick", n=2)
    portfolio = call("GET", "portfolio")
    assert portfolio.status_code == 200, portfolio.text
    assert portfolio.json()["positions"]["BTC-USD"]["qty"] == pytest.approx(0.2)
    assert portfolio.json()["cash"] < 1_000_000 - 0.2 * filled["price"] + 1e-6
    market = call("GET", "market").json()
    assert market["tick"] == 2 and [b["symbol"] for b in market["books"]] == SYMBOLS
    assert all(b["bids"] and b["asks"] for b in market["books"])
    ws.close()


BURST, TICKS = 40, 10


def test_a_rest_order_accepted_before_the_done_joins_that_tick(site: Site) -> None:
    """A 202 comes once the order is queued; the done sent on the WebSocket right after it must not overtake it:
    the gateway hands the connection's queued REST orders to the engine before the done (no wait for the queue)."""
    site.tournament("practice-race", {"practice": True, "order_rate": {"max_orders": 10_000}}, ticks=TICKS,
                    deadline_s=10.0)  # fmt: skip
    replica = site.replica()  # the order goes through another API process than the one holding the connection
    path = "/api/v1/remote/practice-race/trader/orders"
    inbox = redis.Redis.from_url(site.redis_url)
    queue = gateway.inbox_key(gateway.RemoteEntry("practice-race", "alice:trader"))

    def order(n: int, i: int) -> bytes:
        return json.dumps({"type": "order", "symbol": "BTC-USD", "side": "buy", "qty": 0.001,
                           "client_order_id": f"t{n}-{i}"}).encode()  # fmt: skip

    with httpx.Client(base_url=replica, timeout=10) as http:

        def answer(ws: WebSocket, n: int) -> None:
            body = order(n, 0)
            placed = http.post(path, content=body, headers=signed_headers(site.key, site.secret, "POST", path,
                                                                          body=body))  # fmt: skip
            assert placed.status_code == 202, placed.text
            # A burst behind it, queued as a burst of REST calls leaves them (their 202s came after the push): the
            # connection's process has many to read when the done comes.
            inbox.rpush(queue, *(order(n, i) for i in range(1, BURST)))
            ws.send(json.dumps({"type": "done", "n": n}) + "\n")  # at once: no wait for the queue to be read

        ticks, accepted = play(site, "practice-race", answer)
    inbox.close()
    late = {c: ts for c, ts in accepted.items() if ts != ticks[int(c[1:].split("-")[0])]}
    assert len(accepted) == BURST * TICKS and not late, sorted(late)  # each order handled with the tick it was sent in
    site.finished("practice-race")


def test_signed_rest_calls_are_rate_limited(api, database_url) -> None:
    from tests.api.test_service import admin_key

    server = api(database_url=database_url, rate_limit=4)
    client, _admin, people = enrol(server.url, admin_key(database_url), ("alice",))
    key = client.post("/remote-keys", json={}, headers=people["alice"]).json()
    path = "/api/v1/remote/cup/trader/portfolio"
    answers = [httpx.get(server.url + path, headers=signed_headers(key["key_id"], key["secret"], "GET", path))
               for _ in range(5)]  # fmt: skip
    assert [a.status_code for a in answers[:4]] == [404] * 4  # signed and counted; there is no such tournament
    assert answers[0].json()["error"]["code"] == "UNKNOWN_TOURNAMENT" and "RateLimit" in answers[0].headers
    assert answers[4].status_code == 429 and answers[4].json()["error"]["code"] == "RATE_LIMITED"
    assert int(answers[4].headers["Retry-After"]) >= 1


TS_TRADER = """
import {Bot, connect} from "./dist/src/index.js";
class Trader extends Bot {
  symbols = ["BTC-USD", "ETH-USD"];
  ticks = 0;
  onTick() {
    this.ticks += 1;
    if (this.ticks === 2) this.buy("BTC-USD", 0.5);
    else if (this.ticks === 5) this.buy("ETH-USD", 4);
    else if (this.ticks === 9) this.sell("BTC-USD", 0.25);
  }
}
const [url, key, secret] = process.argv.slice(1);
console.log(await connect(url, key, secret, new Trader()));
"""


def test_the_typescript_client_trades_as_the_python_bot_does(site: Site, tmp_path: Path) -> None:
    """The same strategy written against the TypeScript client scores what the Python file scores in a backtest."""
    from tests.clients.test_typescript import CLIENT, _node_major, built

    if _node_major() < 20:
        pytest.skip("needs Node 20 and npm (scripts/bootstrap.sh installs them)")
    built()
    spec = site.tournament("practice-ts", {"practice": True}, enter="tstrader")
    done = subprocess.run(["node", "--input-type=module", "-e", TS_TRADER, site.gateway("practice-ts", "tstrader"),
                           site.key, site.secret], cwd=CLIENT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "1000", done.stdout + done.stderr
    site.finished("practice-ts")
    bot_file = tmp_path / "trader.py"
    bot_file.write_text(BOT)
    assert site.score("practice-ts", "alice:tstrader") == backtest(bot_file, spec).score


def test_a_bot_the_engine_has_out_cannot_connect_again(site: Site) -> None:
    site.tournament("practice-dq", {"practice": True}, ticks=5, deadline_s=3.0, start=False)
    holder = site.client.post("/tournaments/practice-dq/entries", json={"bot": "holder", "remote": True},
                              headers=site.people["alice"])  # fmt: skip
    assert holder.status_code == 201, holder.text
    assert site.client.post("/admin/tournaments/practice-dq/start", headers=site.admin).status_code == 200
    # The holder answers hello and then nothing: each tick waits for it up to the deadline, so the tournament is
    # still running when the disqualified bot tries again (with no bot to wait for, it would be over at once).
    held = site.connect("practice-dq", bot="holder")
    until(messages(held), "hello")
    held.send('{"type": "done", "n": 0}\n')
    ws = site.connect("practice-dq")
    stream = messages(ws)
    until(stream, "hello")
    ws.send('{"type": "done", "n": 0}\n')
    until(stream, "tick", n=1)
    entry = next(e for e in site.client.get("/entries", headers=site.people["alice"]).json()["items"]
                 if e["tournament"] == "practice-dq")  # fmt: skip
    out = site.client.post(f"/admin/tournaments/practice-dq/entries/{entry['id']}/disqualify", headers=site.admin)
    assert out.status_code == 200, out.text
    for n in (1, 2):  # the engine takes the command at tick 2 and says so with the statuses after it
        ws.send(json.dumps({"type": "done", "n": n}) + "\n")
        until(stream, "tick", n=n + 1)
    assert refusal(site.connect("practice-dq")) == ("ENTRY_OUT", 4409)
    ws.close()
    held.close()


SAYS_WHERE_IT_STANDS = """
    def on_end(self):
        import json
        print(json.dumps({**{s: self.portfolio.position(s) for s in self.symbols}, "stale": sorted(self._resyncing),
                          "books": sorted(self.books)}))
"""


def test_a_remote_bot_reconnects_after_its_api_process_is_killed_and_one_that_does_not_is_out(site: Site,
                                                                                              tmp_path: Path) -> None:
    """The API process holding two remote bots' connections is killed (SIGKILL) and started again on its port: the
    SDK bot reconnects (a fresh signed handshake) and plays on to the end with its three trades; a bot that never
    comes back is out, ``disconnected``, once the grace has passed. A holder on the other API process answers no
    tick, so each lasts its deadline and the tournament outlasts the outage."""
    site.tournament("practice-back", {"practice": True}, ticks=45, deadline_s=1.0, start=False)
    for bot in ("ghost", "holder"):
        entered = site.client.post("/tournaments/practice-back/entries", json={"bot": bot, "remote": True},
                                   headers=site.people["alice"])  # fmt: skip
        assert entered.status_code == 201, entered.text
    assert site.client.post("/admin/tournaments/practice-back/start", headers=site.admin).status_code == 200
    port = free_port()
    doomed = site.replica(port=port)
    holder = site.connect("practice-back", bot="holder")
    held = messages(holder)
    until(held, "hello")
    holder.send('{"type": "done", "n": 0}\n')
    # It reads on (answering the server's WebSocket pings, or its connection would drop) and never sends done.
    threading.Thread(target=lambda: all(True for _ in held), daemon=True).start()
    ghost = site.connect("practice-back", bot="ghost", via=doomed)
    ghost_stream = messages(ghost)
    until(ghost_stream, "hello")
    ghost.send('{"type": "done", "n": 0}\n')
    bot_file = tmp_path / "trader.py"  # the Trader, saying at the end where it stands
    bot_file.write_text(BOT.replace("\n\nif __name__", SAYS_WHERE_IT_STANDS + "\n\nif __name__"))
    env = os.environ | {"ARENA_GATEWAY": site.gateway("practice-back", via=doomed), "ARENA_KEY": site.key,
                        "ARENA_SECRET": site.secret, "ARENA_RECONNECT_S": "60"}  # fmt: skip
    trader = subprocess.Popen([sys.executable, str(bot_file)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)  # fmt: skip
    try:
        progress = lambda: site.client.get("/tournaments/practice-back").json()["progress"] or {}  # noqa: E731
        wait_until("tick 3", lambda: progress().get("tick", 0) >= 3, 60)
        site.processes[doomed].kill()  # SIGKILL: no close frame, no goodbye to the engine
        site.processes[doomed].wait()
        killed = progress()
        site.replica(port=port)  # the same address again
        out, err = trader.communicate(timeout=180)
        assert trader.returncode == 0, err.decode()[-3000:]
        assert b"reconnected to the gateway; resuming" in err, err.decode()[-3000:]
    finally:
        if trader.poll() is None:
            trader.kill()
            trader.wait()
    site.finished("practice-back")
    back = site.entry("practice-back", "trader")
    assert back["status"] == "finished", back  # not out: it came back within the grace
    fills = site.client.get(f"/entries/{back['id']}/fills", headers=site.people["alice"]).json()["items"]
    assert [f["client_order_id"] for f in fills] == ["o1", "o2", "o3"]  # the same bot went on: no second o1
    assert fills[-1]["ts"] > killed["ts"]  # traded after the outage
    # Its view at the end: the portfolio it was sent, and every book in sequence again (resynced after the gap).
    assert json.loads(out.decode().splitlines()[-1]) == {"BTC-USD": 0.25, "ETH-USD": 4.0, "stale": [],
                                                          "books": SYMBOLS}  # fmt: skip
    gone = site.entry("practice-back", "ghost")
    assert gone["status"] == "out" and gone["end_classification"] == "disconnected", (gone, killed)
    logs = site.client.get(f"/entries/{gone['id']}/logs", headers=site.people["alice"]).json()
    assert f"within {GRACE_S} s" in (logs.get("end_reason") or ""), logs
    holder.close()

