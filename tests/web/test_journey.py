"""The whole journey in a real browser, three people in three browser contexts: an admin creates and opens a
tournament on the dashboard, a contestant uploads a bot by drag and drop and enters it, the admin starts it,
and a spectator watches the leaderboard update live until the final results. No page logs an error.
Real uvicorn, Redis, database (SQLite and PostgreSQL) and runc sandboxes."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import screenshot
from tests.web.test_admin import ready_bot
from tests.web.test_admin import sign_in as admin_sign_in
from tests.web.test_contestant import drop_file
from tests.web.test_contestant import sign_in as contestant_sign_in

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runc") is None, reason="needs root and runc"),
]
TICKS = 120


def scores(page: Page) -> dict[str, str]:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#leaderboard tr[data-bot]')]
                 .map((row) => [row.dataset.bot, row.querySelector('td.score').textContent]))"""
    )


def test_admin_contestant_and_spectator_journey(arena, open_page):
    # The admin creates a realtime tournament on the dashboard and opens it.
    admin = open_page()
    admin_sign_in(admin, arena.url)
    form = admin.locator("#create-form")
    expect(form.locator("[data-field='rules.max_leverage']")).to_have_value("2")  # the defaults have loaded
    form.locator("[name=slug]").fill("grand")
    form.locator("[name=name]").fill("Grand Prix")
    form.locator("[name=feed]").fill("synthetic:11")
    form.locator("[name=ticks]").fill(str(TICKS))
    form.locator("[name=clock]").select_option("realtime")
    form.locator("[name=tick_deadline_s]").fill("0.15")
    form.locator("[name=symbols]").fill("SPY, BTC-USD, ETH-USD")
    form.locator("[data-field='rules.max_leverage']").fill("1")
    admin.click("#create-submit")
    admin.locator("#tournaments tr[data-slug='grand']").click()
    admin.click("#action-open")
    expect(admin.locator("#detail-title")).to_contain_text("open")

    # A contestant drops a bot on the upload zone, waits for its smoke test, and enters it.
    alice = open_page()
    contestant_sign_in(alice, arena.url, arena.people["alice"]["X-API-Key"])
    expect(alice.locator("#dropzone")).to_be_visible()
    drop_file(alice, "#dropzone", "market_maker.py", (ROOT / "examples/bots/market_maker.py").read_text())
    alice.click("#upload-submit")
    expect(alice.locator("#upload-result")).to_have_attribute("data-status", "ready", timeout=60_000)
    expect(alice.locator("#enter-tournament option[value='grand']")).to_have_count(1)
    alice.locator("#enter-tournament").select_option("grand")
    alice.click("#enter-submit")
    expect(alice.locator("#entries tr[data-entry]")).to_contain_text("alice:market_maker")
    # A rival enters through the API, as a script would.
    assert ready_bot(arena, "bob", "holder", (ROOT / "examples/bots/buy_and_hold.py").read_bytes())["status"] == "ready"
    assert arena.client.post("/tournaments/grand/entries", json={"bot": "holder"},
                             headers=arena.people["bob"]).status_code == 201  # fmt: skip

    # The spectator opens the page before the start: the rules are there, the board waits.
    spectator = open_page()
    spectator.goto(arena.url + "/t/grand")
    expect(spectator.locator("#tournament-name")).to_have_text("Grand Prix")
    expect(spectator.locator("#rules")).to_contain_text("Leverage is capped at 1×")
    expect(spectator.locator("#rules")).to_contain_text("Only these symbols trade: BTC-USD, ETH-USD and SPY.")

    # The admin starts it; entrants show live CPU and memory on the dashboard.
    admin.reload()
    admin.locator("#tournaments tr[data-slug='grand']").click()
    expect(admin.locator("#action-start")).to_be_enabled()
    admin.click("#action-start")
    expect(admin.locator("#detail-title")).to_contain_text("running")
    entrants = admin.locator("#entrants tr[data-entry]")
    expect(entrants).to_have_count(2)
    expect(entrants.first).to_contain_text(re.compile(r"\d+(\.\d+)? (KiB|MiB)"), timeout=20_000)

    # The spectator sees both bots ranked, the clock advancing and the scores moving, without reloading.
    board = spectator.locator("#leaderboard tr[data-bot]")
    expect(board).to_have_count(2, timeout=20_000)
    expect(spectator.locator("#tournament-status")).to_contain_text("running", timeout=3_000)  # told by the stream
    expect(spectator.locator("#connection")).to_contain_text("live")
    first_tick = spectator.locator("#clock-tick").text_content()
    before = scores(spectator)
    spectator.wait_for_function(
        """([tick, before]) => {
            const now = Object.fromEntries([...document.querySelectorAll('#leaderboard tr[data-bot]')]
                .map((row) => [row.dataset.bot, row.querySelector('td.score').textContent]));
            return document.querySelector('#clock-tick').textContent !== tick
                && JSON.stringify(now) !== JSON.stringify(before);
        }""",
        arg=[first_tick, before],
        timeout=20_000,
    )
    assert re.search(rf"tick \d+ of {TICKS}", spectator.locator("#clock-tick").text_content() or "")
    assert set(scores(spectator)) == {"alice:market_maker", "bob:holder"}
    screenshot(spectator, "journey-spectator-live")
    screenshot(admin, "journey-admin-running")

    # At the end: final results for the spectator, finished entrants for the admin, a curve for alice.
    expect(spectator.locator("#results")).to_be_visible(timeout=60_000)
    expect(spectator.locator("#tournament-status")).to_contain_text("finished")
    mine = spectator.locator('#results-table tr[data-bot="alice:market_maker"] td.bot')
    expect(mine.locator(".name")).to_have_text("market_maker")  # the name alice chose, then alice
    expect(mine.locator(".contestant")).to_have_text("alice")
    final = arena.client.get("/tournaments/grand/results").json()["items"]
    assert {s["bot"] for s in final} == {"alice:market_maker", "bob:holder"}
    screenshot(spectator, "journey-spectator-final")
    expect(admin.locator("#detail-title")).to_contain_text("finished", timeout=20_000)
    expect(entrants.first).to_contain_text("exited")
    alice.reload()
    alice.locator("#entries tr[data-entry]").first.locator("button").click()
    expect(alice.locator("#entry-chart canvas")).to_have_count(1, timeout=20_000)
