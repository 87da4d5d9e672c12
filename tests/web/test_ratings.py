"""Ratings and achievements in a real browser: the ranking page links each contestant to their profile (rating,
place, level, badges, rating history chart and table), the contestant's own page shows the same, and a finished
tournament's page lists what its contestants earned in it. Real uvicorn and SQLite; records made by hand and
finished through the service (tests/service/test_awards.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from arena.store.db import make_engine, make_sessionmaker
from tests.service.test_awards import Line, finished
from tests.web.conftest import PHONE, SQLITE_ONLY, screenshot
from tests.web.test_contestant import sign_in

pytestmark = [SQLITE_ONLY]


@pytest.fixture
def rated(arena, database_url):
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    big = (("AAPL", "buy", 1000, 255.0),)
    finished(sessions, "spring", [Line("alice", "a", 3.0, fills=big), Line("bob", "b", 2.0), Line("cy", "c", 1.0)])
    finished(sessions, "summer", [Line("alice", "a", 2.0), Line("bob", "b", 1.0)])
    yield arena
    engine.dispose()


def test_the_ranking_links_to_profiles_with_history_and_badges(rated, open_page):
    page = open_page()
    page.goto(rated.url + "/ratings")
    rows = page.locator("#ratings tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_have_attribute("data-contestant", "alice")
    expect(rows.nth(0).locator(".place")).to_have_text("1")
    expect(rows.nth(0).locator(".badges")).to_contain_text("whale")
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Ratings")
    expect(page.locator("#more")).to_be_hidden()  # one page holds them all
    screenshot(page, "ratings")
    rows.nth(0).locator("a").click()
    page.wait_for_url("**/c/alice")
    expect(page.locator("#contestant-name")).to_have_text("alice")
    expect(page.locator("#profile-place")).to_have_text("#1")
    expect(page.locator("#profile-level")).to_contain_text("3 (500 XP")
    expect(page.locator("#badges [data-code=whale]")).to_contain_text("Whale")
    history = page.locator("#rating-history tbody tr")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_have_attribute("data-tournament", "summer")  # the latest first
    expect(history.nth(1).locator("td").nth(1)).to_have_text("1 of 3")
    expect(page.locator("#rating-chart canvas")).to_have_count(1)
    screenshot(page, "profile")


def test_a_profile_on_a_phone_and_a_contestant_never_rated(rated, open_page):
    page = open_page(phone=True)
    page.set_viewport_size(PHONE)
    page.goto(rated.url + "/c/root")  # the admin: no rated tournament
    expect(page.locator("#profile-rating")).to_contain_text("not rated yet")
    expect(page.locator("#badges")).to_have_text("No badges yet.")
    page.goto(rated.url + "/c/bob")
    expect(page.locator("#rating-history tbody tr")).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_my_page_and_a_finished_tournament_show_achievements(rated, open_page):
    page = open_page()
    sign_in(page, rated.url, rated.people["alice"]["X-API-Key"])
    expect(page.locator("#profile-panel #profile-place")).to_have_text("#1")
    expect(page.locator("#profile-panel #badges [data-code=whale]")).to_be_visible()
    page.goto(rated.url + "/t/spring")
    earned = page.locator("#earned-panel")
    expect(earned).to_be_visible()
    expect(earned.locator("[data-code=whale]")).to_contain_text("alice")
    expect(earned.locator("[data-code=level_2]")).to_have_count(3)
    screenshot(page, "tournament-achievements")
