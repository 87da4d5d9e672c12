"""The spectators' pages in a real browser: the tournament list (/) and a tournament's live page (/t/{slug}).

A real server (uvicorn, Redis, SQLite) runs real tournaments with the example bots in the runc sandbox;
realtime clocks (half a second a tick) make them slow enough to watch. One test feeds the page a scripted
stream instead, so ranking, ties and the rank-change marks can be checked exactly.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.api.conftest import LiveServer, enrol
from tests.api.test_service import poll, upload
from tests.web.conftest import SQLITE_ONLY, make_admin, screenshot

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runc") is None, reason="needs root and runc"),
]

# Contestant -> (bot name, example file). The holder buys on the first tick, so the board fills at once.
BOTS = {
    "alice": ("holder", "buy_and_hold.py"),
    "bob": ("maker", "market_maker.py"),
    "carol": ("sma", "sma_crossover.py"),
}
RULES = {"symbols": ["SPY", "BTC-USD", "ETH-USD"]}
TICK = re.compile(r"^tick (\d+) of (\d+)$")


@dataclass
class Arena:
    server: LiveServer
    client: httpx.Client
    admin: dict[str, str]
    people: dict[str, dict[str, str]]
    started: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def create(self, slug: str, entrants: tuple[str, ...], *, ticks: int, clock: str = "realtime",
               start: bool = True) -> None:  # fmt: skip
        """A tournament with these contestants' bots entered: opened, and started unless ``start`` is false."""
        # A realtime tick lasts tick_deadline_s: half a second.
        body = {"slug": slug, "name": f"The {slug} cup", "rules": RULES, "feed": "synthetic:3", "seed": 3,
                "ticks": ticks, "clock": clock, "tick_deadline_s": 0.5}  # fmt: skip
        assert self.client.post("/admin/tournaments", json=body, headers=self.admin).status_code == 201
        assert self.client.post(f"/admin/tournaments/{slug}/open", headers=self.admin).status_code == 200
        for who in entrants:
            entered = self.client.post(f"/tournaments/{slug}/entries", json={"bot": BOTS[who][0]},
                                       headers=self.people[who])  # fmt: skip
            assert entered.status_code == 201, entered.text
        if start:
            self.start(slug)

    def start(self, slug: str) -> None:
        assert self.client.post(f"/admin/tournaments/{slug}/start", headers=self.admin).json()["status"] == "running"
        self.started.append(slug)

    def status(self, slug: str) -> str:
        return self.client.get(f"/tournaments/{slug}").json()["status"]

    def stop(self, slug: str) -> None:
        """Stop a running tournament and wait for its end (no sandbox outlives the test)."""
        self.client.post(f"/admin/tournaments/{slug}/stop", headers=self.admin)
        assert poll(lambda: self.status(slug), lambda s: s in ("finished", "cancelled")) in ("finished", "cancelled")

    def wait_finished(self, slug: str, timeout_s: float = 60.0) -> None:
        assert poll(lambda: self.status(slug), lambda s: s == "finished", timeout_s) == "finished"


@pytest.fixture
def arena_with_bots(api, database_url) -> Callable[..., Arena]:
    """``arena_with_bots(*contestants)``: a server with these contestants enrolled, each with their bot uploaded and
    smoke-tested (the conftest's ``arena`` has two contestants and no bots, and hides its server)."""
    towns: list[Arena] = []

    def start(*contestants: str) -> Arena:
        key = make_admin(database_url)
        server = api(database_url=database_url, rate_limit=1_000_000)  # pages poll; the limit has its own test
        client, admin, people = enrol(server.url, key, contestants)
        town = Arena(server, client, admin, people)
        towns.append(town)
        for who in contestants:  # uploaded together: the smoke tests run side by side
            bot, path = BOTS[who]
            source = (ROOT / "examples/bots" / path).read_bytes()
            assert upload(client, people[who], bot, path, source).status_code == 202
        for who in contestants:
            bot = BOTS[who][0]
            version = poll(lambda w=who, b=bot: client.get(f"/bots/{b}/versions/1", headers=people[w]).json(),
                           lambda v: v["status"] != "pending")  # fmt: skip
            assert version["status"] == "ready", version["smoke_log"]
        return town

    yield start
    for town in towns:
        for slug in town.started:  # a test that failed half way leaves no sandbox running
            if town.status(slug) == "running":
                town.stop(slug)
        town.client.close()


def tick_of(page: Page) -> int:
    match = TICK.match(page.locator("#clock-tick").inner_text())
    assert match, page.locator("#clock-tick").inner_text()
    return int(match.group(1))


def wait_tick_past(page: Page, tick: int, timeout_ms: float = 15_000) -> None:
    script = "(n) => Number((/^tick (\\d+) of/.exec(document.querySelector('#clock-tick').textContent) || [])[1]) > n"
    page.wait_for_function(script, arg=tick, timeout=timeout_ms)


def no_horizontal_overflow(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


# -- the tournament list ----------------------------------------------------------------------------------


@SQLITE_ONLY
def test_index_lists_running_then_open_then_finished_with_links(arena_with_bots, open_page):
    town = arena_with_bots("alice")
    page = open_page()
    page.goto(town.url + "/")
    expect(page.locator("#no-tournaments")).to_be_visible()  # nothing public yet

    town.create("done", ("alice",), ticks=5, clock="lockstep")
    town.wait_finished("done")
    town.create("later", ("alice",), ticks=5, start=False)
    town.create("live", ("alice",), ticks=400)  # 200 s of realtime: running throughout
    body = {"slug": "draft", "name": "A draft", "rules": RULES, "ticks": 5}
    assert town.client.post("/admin/tournaments", json=body, headers=town.admin).status_code == 201  # not public
    page.reload()
    groups = page.locator("#tournaments > section")
    expect(groups).to_have_count(3)
    order = groups.evaluate_all("sections => sections.map(s => s.id)")
    assert order == ["group-running", "group-open", "group-finished"]
    for slug, status in (("live", "running"), ("later", "open"), ("done", "finished")):
        item = page.locator(f'li.tournament[data-slug="{slug}"]')
        expect(item.locator("a.name")).to_have_attribute("href", f"/t/{slug}")
        expect(item.locator("a.name")).to_have_text(f"The {slug} cup")
        expect(item.locator(".badge")).to_have_text(status)
        expect(item.locator(".entrants")).to_have_text("1 entrant")
    expect(page.locator('li[data-slug="live"]')).to_contain_text("Started")
    expect(page.locator('li[data-slug="done"]')).to_contain_text("Finished")
    expect(page.locator('li[data-slug="draft"]')).to_have_count(0)
    screenshot(page, "spectator-index")

    phone = open_page(phone=True)
    phone.goto(town.url + "/")
    expect(phone.locator("li.tournament")).to_have_count(3)
    assert no_horizontal_overflow(phone)

    page.locator('li[data-slug="live"] a.name').click()
    expect(page).to_have_url(town.url + "/t/live")
    expect(page.locator("#tournament-name")).to_have_text("The live cup")
    expect(page.locator("#tournament-status")).to_have_text("running")

    # A finished tournament's page opens on its results, with no stream to follow.
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if "/leaderboard/stream" in r.url else None)
    page.goto(town.url + "/t/done")
    expect(page.locator("#results-table tbody tr")).to_have_count(1)
    expect(page.locator("#results-table td.bot .name")).to_have_text("holder")  # the name as chosen, its owner
    expect(page.locator("#results-table td.bot .contestant")).to_have_text("alice")
    expect(page.locator("#connection")).to_have_text("final")
    expect(page.locator("#leaderboard")).to_be_hidden()
    assert streams == []
    # Its whole record downloads from the results, signed in or not.
    for label, table in (("Parquet", "done/standings.parquet"), ("CSV", "done/standings.csv")):
        with page.expect_download() as download:
            page.locator("#record-downloads a", has_text=label).click()
        with zipfile.ZipFile(download.value.path()) as archive:
            assert table in archive.namelist() and "done/manifest.json" in archive.namelist()


# -- the live page ------------------------------------------------------------------------------------------


@SQLITE_ONLY
def test_live_page_follows_a_tournament_from_open_to_final_results(arena_with_bots, open_page):
    town = arena_with_bots("alice", "bob", "carol")
    town.create("cup", ("alice", "bob", "carol"), ticks=70, start=False)  # 35 s once started
    bots = [f"{who}:{BOTS[who][0]}" for who in ("alice", "bob", "carol")]
    page = open_page()
    page.goto(town.url + "/t/cup")

    # Open: the entrants are listed by the names their owners chose, unranked; the rules are in plain words; the
    # clock waits.
    expect(page.locator("#tournament-name")).to_have_text("The cup cup")
    expect(page.locator("#tournament-status")).to_have_text("open")
    expect(page.locator("#leaderboard tbody tr")).to_have_count(3)
    for who in ("alice", "bob", "carol"):
        row = page.locator(f'#leaderboard tr[data-bot="{who}:{BOTS[who][0]}"]')
        expect(row.locator("td.bot .name")).to_have_text(BOTS[who][0])
        expect(row.locator("td.bot .contestant")).to_have_text(who)
    expect(page.locator("#leaderboard td.rank")).to_have_text(["—", "—", "—"])
    expect(page.locator("#clock-tick")).to_have_text("not started")
    expect(page.locator("#rules li").first).to_contain_text("Every bot starts with $1,000,000")
    assert page.locator("#rules li").count() >= 5
    expect(page.locator("#connection")).to_have_text("live")

    town.start("cup")
    # Running: the status poll notices, the stream fills the board and moves the clock.
    expect(page.locator("#tournament-status")).to_have_text("running", timeout=10_000)
    expect(page.locator("#clock-tick")).to_have_text(TICK)
    holder = page.locator('#leaderboard tr[data-bot="alice:holder"]')
    expect(holder.locator("td.rank")).to_have_text(re.compile(r"^\d$"))
    expect(holder.locator("td.score")).to_have_text(re.compile(r"^[\d,]+(\.\d+)?$"))
    score = holder.locator("td.score").inner_text()
    expect(holder.locator("td.score")).not_to_have_text(score)  # the holder's value moves with the market
    tick = tick_of(page)
    wait_tick_past(page, tick)
    assert page.locator("#clock-progress").evaluate("p => p.value > 0 && p.max === 70")
    expect(page.locator("#clock-market")).not_to_have_text("—")
    assert sorted(page.locator("#leaderboard tbody tr").evaluate_all("rows => rows.map(r => r.dataset.bot)")) == bots

    # A phone, with a card linked to: the panels stack and the table fits (or scrolls in its own box).
    phone = open_page(phone=True)
    phone.goto(town.url + "/t/cup#bot=bob%3Amaker")
    expect(phone.locator("#leaderboard")).to_be_visible()
    expect(phone.locator("#leaderboard td.rank").first).to_have_text("1")  # scored at the first streamed change
    expect(phone.locator("#card-bot")).to_have_text("maker")
    expect(phone.locator("#card-contestant")).to_have_text("bob")
    assert no_horizontal_overflow(phone)

    # A bot's card: opened from its row, refreshed while the run goes on; its curve appears once the record
    # has some (the record is written every 50 ticks).
    holder.locator("td.score").click()
    expect(page.locator("#card")).to_be_visible()
    expect(page.locator("#card-bot")).to_have_text("holder")
    expect(page.locator("#card-contestant")).to_have_text("alice")
    expect(page).to_have_url(town.url + "/t/cup#bot=alice%3Aholder")
    expect(holder).to_have_class(re.compile(r"\bselected\b"))
    expect(page.locator("#card-chart canvas").first).to_be_attached(timeout=40_000)
    expect(page.locator('#card-figures dd[data-figure="trades"]')).not_to_have_text("0")
    expect(page.locator('#card-figures dd[data-figure="nav"]')).to_have_text(re.compile(r"^\$"))
    assert page.locator("#card-chart").evaluate("c => c.querySelector('canvas').width > 0")
    screenshot(page, "spectator-live")
    expect(phone.locator("#card-chart canvas").first).to_be_attached(timeout=10_000)  # its card refreshed too
    assert no_horizontal_overflow(phone)
    screenshot(phone, "spectator-phone")

    # Finished: the final results replace the live board, with each bot's figures; the stream is closed.
    expect(page.locator("#results")).to_be_visible(timeout=45_000)
    expect(page.locator("#tournament-status")).to_have_text("finished")
    expect(page.locator("#connection")).to_have_text("final")
    expect(page.locator("#clock-tick")).to_have_text("tick 70 of 70")
    expect(page.locator("#leaderboard")).to_be_hidden()
    results = page.locator("#results-table tbody tr")
    expect(results).to_have_count(3)
    expect(results.locator("td.rank")).to_have_text(["1", "2", "3"])
    final = town.client.get("/tournaments/cup/results").json()["items"]
    assert results.evaluate_all("rows => rows.map(r => r.dataset.bot)") == [s["bot"] for s in final]
    for row in final:
        cells = page.locator(f'#results-table tr[data-bot="{row["bot"]}"]')
        expect(cells.locator("td.nav")).to_have_text(re.compile(r"^\$[\d,]+$"))
        expect(cells.locator("td.trades")).to_have_text(str(row["trades"]))
        expect(cells.locator("td.drawdown")).to_have_text(re.compile(r"^\d+\.\d\d%$"))
        expect(cells.locator("td.fees")).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))
        expect(cells.locator("td.status")).to_contain_text(row["status"])
    expect(page.locator("#card-note")).to_have_text("Final figures.")
    screenshot(page, "spectator-results")


@SQLITE_ONLY
def test_the_page_resumes_after_the_stream_drops(arena_with_bots, open_page):
    town = arena_with_bots("alice", "bob")
    town.create("drop", ("alice", "bob"), ticks=400)  # stopped once seen to resume
    page = open_page()
    streams: list[Request] = []
    page.on("request", lambda r: streams.append(r) if "/leaderboard/stream" in r.url else None)
    page.goto(town.url + "/t/drop")
    expect(page.locator("#connection")).to_have_text("live")
    holder = page.locator('#leaderboard tr[data-bot="alice:holder"] td.score')
    expect(holder).not_to_have_text("—", timeout=10_000)

    # The server ends every spectator's stream, as it does to one that falls too far behind.
    drop_spectators(town, "drop")
    expect(page.locator("#connection")).to_have_text("reconnecting")
    expect(page.locator("#connection")).to_have_text("live", timeout=10_000)  # the browser retries in 2 s
    assert len(streams) == 2
    assert re.fullmatch(r"\d+-\d+", streams[1].all_headers().get("last-event-id", "")), "not resumed"
    tick = tick_of(page)
    score = holder.inner_text()
    wait_tick_past(page, tick)
    expect(holder).not_to_have_text(score)  # scores come down the stream only: it flows again
    town.stop("drop")
    expect(page.locator("#results")).to_be_visible(timeout=10_000)  # a stopped tournament finishes


def drop_spectators(town: Arena, slug: str) -> None:
    """End the SSE streams of a tournament's spectators from the server's side, through the change hub's own
    path for a spectator that falls behind (a clean end of the response: the browser reconnects with
    Last-Event-ID). A dropped network would do the same, but Chromium logs a console error for it."""
    town.server.server.config.app.state.arena.hub.disconnect(slug)


# -- ranking and rank changes, with a scripted stream ---------------------------------------------------------

RANKED_DETAIL = {
    "slug": "script", "name": "Scripted", "status": "running", "clock": "lockstep", "ticks": 10, "entries": 5,
    "entry_opens_at": None, "entry_closes_at": None, "starts_at": None, "ends_at": None,
    "started_at": "2026-01-01T00:00:00Z", "finished_at": None, "ruleset": {"scoring": {"formula": "nav"}},
    "rules_text": ["Every bot starts with $100."], "progress": {"tick": 1, "ticks": 10, "ts": 0, "ended": False},
    "bots": ["a", "b", "c", "d", "e"],
}  # fmt: skip


def sse(event_id: str, tick: int, scores: dict[str, float], retry_ms: int) -> str:
    data = json.dumps({"type": "leaderboard", "id": event_id, "seq": tick, "ts": tick * 60_000, "tick": tick,
                       "scores": scores})  # fmt: skip
    return f"retry: {retry_ms}\n\nid: {event_id}\nevent: leaderboard\ndata: {data}\n\n"


def test_board_ranks_ties_and_marks_moves(api, open_page):
    """The API is scripted here (the page's requests are answered by the test): the first stream connection
    brings one change and ends; the browser reconnects and gets the next one."""
    server = api()
    page = open_page()
    connections: list[str] = []
    changes = [
        sse("1-0", 1, {"a": 10.0, "b": 5.0, "c": 5.0, "d": 1.0}, retry_ms=300),  # a 1, b 2, c 2, d 4
        sse("2-0", 2, {"c": 20.0, "d": 5.0}, retry_ms=60_000),  # c 1, a 2, d 3, b 3 (ties by key, descending)
    ]

    def stream(route: Route) -> None:
        connections.append(route.request.url)
        body = changes[min(len(connections), len(changes)) - 1]
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    def json_reply(body: object) -> Callable[[Route], None]:
        return lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    board = {"tournament": "script", "final": False, "delayed_s": 0, "total": 4, "next": None,
             "items": [{"rank": 1, "bot": "a", "score": 10.0}, {"rank": 2, "bot": "b", "score": 5.0},
                       {"rank": 2, "bot": "c", "score": 5.0}, {"rank": 4, "bot": "d", "score": 1.0}]}  # fmt: skip
    card = {"tournament": "script", "bot": "c", "status": "running", "disqualified": False, "final": False,
            "rank": None, "score": 20.0, "nav": 20.0, "max_drawdown": 0.1, "trades": 3, "fees": 0.25, "points": 3,
            "equity": [{"ts": 60_000 * i, "nav": nav, "score": nav, "max_drawdown": 0.1, "drawdown": dd}
                       for i, (nav, dd) in enumerate([(10.0, 0.0), (9.0, 0.1), (20.0, 0.0)])]}  # fmt: skip
    page.route(re.compile(r"/api/v1/tournaments/script/leaderboard/stream"), stream)
    page.route(re.compile(r"/api/v1/tournaments/script/leaderboard\?"), json_reply(board))
    page.route(re.compile(r"/api/v1/tournaments/script/bots/c$"), json_reply(card))
    page.route(re.compile(r"/api/v1/tournaments/script$"), json_reply(RANKED_DETAIL))
    page.goto(server.url + "/t/script")

    rows = page.locator("#leaderboard tbody tr")
    expect(rows.locator("td.change")).to_have_text(["▲1", "▼1", "▲1", "▼1", "–"])
    # The rows that moved flash for 2 s (a CSS animation).
    classes = rows.evaluate_all("rows => rows.map(r => r.className)")
    assert ["moved-up" in c for c in classes] == [True, False, True, False, False], classes
    assert ["moved-down" in c for c in classes] == [False, True, False, True, False], classes
    expect(rows.locator("td.bot")).to_have_text(["c", "a", "d", "b", "e"])
    expect(rows.locator("td.rank")).to_have_text(["1", "2", "3", "3", "—"])  # competition ranking; e has no score
    expect(rows.locator("td.score")).to_have_text(["20.00", "10.00", "5.00", "5.00", "—"])
    expect(page.locator("#clock-tick")).to_have_text("tick 2 of 10")
    assert len(connections) == 2  # (Last-Event-ID is checked against the real server: routing hides it)
    expect(page.locator("#rules li")).to_have_text(["Every bot starts with $100."])

    rows.first.click()
    expect(page.locator("#card-bot")).to_have_text("c")
    expect(page.locator("#card-chart canvas").first).to_be_attached()
    expect(page.locator('#card-figures dd[data-figure="rank"]')).to_have_text("1")  # the live rank
    expect(page.locator('#card-figures dd[data-figure="fees"]')).to_have_text("$0.25")
    page.locator("#card-close").click()
    expect(page.locator("#card")).to_be_hidden()
    expect(page).to_have_url(server.url + "/t/script")


# -- a contestant's own record while it runs ------------------------------------------------------------------


@SQLITE_ONLY
def test_a_contestant_downloads_their_own_bots_record_while_the_tournament_runs(arena_with_bots, open_page):
    from tests.web.test_contestant import sign_in

    town = arena_with_bots("alice", "bob")
    town.create("live-record", ("alice", "bob"), ticks=400)  # 200 s of realtime: running throughout
    poll(lambda: town.client.get("/tournaments/live-record").json(), lambda t: (t["progress"] or {}).get("tick", 0) > 2)
    page = open_page()
    sign_in(page, town.url, town.people["alice"]["X-API-Key"])
    entry = page.locator("#entries tr[data-entry]")
    expect(entry.locator("[data-col=tournament] .badge-running")).to_be_visible(timeout=20_000)
    entry.locator("[data-action=results]").click()
    links = page.locator("#entry-detail #entry-downloads a")
    expect(links).to_have_text(["Parquet", "CSV"])
    for label, suffix in (("Parquet", "parquet"), ("CSV", "csv")):
        with page.expect_download() as download:
            links.filter(has_text=label).click()
        assert download.value.suggested_filename == f"live-record-alice_holder-{suffix}.zip"
        with zipfile.ZipFile(download.value.path()) as archive:
            names = archive.namelist()
            assert f"live-record/equity.{suffix}" in names and "live-record/manifest.json" in names, names
            if suffix == "csv":  # her own rows only: Bob's bot is in the tournament, not in her record
                equity = list(csv.DictReader(io.StringIO(archive.read("live-record/equity.csv").decode())))
                assert equity and {row["bot"] for row in equity} == {"alice:holder"}, equity[:3]
    assert town.status("live-record") == "running"  # downloaded while it ran
    town.stop("live-record")
