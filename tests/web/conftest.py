"""Browser tests: Debian's Chromium, headless, driven by Playwright (its Python package; no browser download).

Every page a test opens is watched: a console error or an uncaught exception fails the test. Screenshots go
to ``artifacts/screenshots/`` (or ``$ARENA_ARTIFACTS/screenshots``), which the README links to.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright
from sqlalchemy.orm import Session

from arena.store import accounts
from arena.store.db import make_engine
from arena.store.migrate import upgrade
from tests.api import conftest as api_fixtures
from tests.api.conftest import enrol
from tests.store import conftest as store_fixtures

# The API tests' fixtures: a live server (`api`) on each database kind (`database_url`).
api, http = api_fixtures.api, api_fixtures.http
database_url, pg_database, pg_server, sqlite_template = (
    store_fixtures.database_url, store_fixtures.pg_database, store_fixtures.pg_server, store_fixtures.sqlite_template)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("ARENA_ARTIFACTS", ROOT / "artifacts")) / "screenshots"
PHONE = {"width": 390, "height": 844}
PASSWORD = "correct horse battery staple"
# The pages read the same API whatever the store: one backend is enough for most browser tests (the API tests
# run both); the end-to-end journey runs on both.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
DESKTOP = {"width": 1280, "height": 900}

# Chromium as root in a container, with nothing reaching out to Google's services (the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]


def chromium_path() -> str:
    found = os.environ.get("ARENA_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is not installed: `make test` installs Debian's chromium package (scripts/bootstrap.sh)")
    return found


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


class WatchedPage:
    """A page whose console errors and uncaught exceptions are collected; the fixture fails on any."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url', '')})")


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """``open_page(phone=False)``: a fresh browser context (own cookies) and page, watched for errors."""
    watched: list[WatchedPage] = []
    contexts = []

    def start(phone: bool = False) -> Page:
        context = browser.new_context(viewport=PHONE if phone else DESKTOP, is_mobile=phone, has_touch=phone)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = WatchedPage(context.new_page())
        watched.append(page)
        return page.page

    yield start
    errors = [error for page in watched for error in page.errors]
    for context in contexts:
        context.close()
    assert not errors, "the pages logged errors:\n" + "\n".join(errors)


def make_admin(url: str) -> str:
    """The first admin, with a dashboard password, straight from the store (as `arena create-contestant
    --admin --password` does); returns their API key."""
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        admin = accounts.create_contestant(session, "root", is_admin=True)
        accounts.set_password(admin, PASSWORD)
        _, key = accounts.create_api_key(session, admin)
    engine.dispose()
    return key


@pytest.fixture
def arena(api, database_url) -> Iterator[SimpleNamespace]:
    """A running service with an admin (root, with a password) and two contestants, alice and bob."""
    key = make_admin(database_url)
    server = api(database_url=database_url, rate_limit=1_000_000)  # the pages poll; the limit has its own test
    client, admin, people = enrol(server.url, key)
    yield SimpleNamespace(url=server.url, client=client, admin=admin, people=people, key=key)
    client.close()


@pytest.fixture
def lenient_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """``lenient_page(401, 422)``: a page that may log failed requests with these statuses, which the test
    provokes on purpose (the browser logs every 4xx response); any other console error fails the test."""
    watched: list[tuple[list[str], tuple[int, ...]]] = []
    contexts = []

    def start(*statuses: int) -> Page:
        context = browser.new_context(viewport=DESKTOP)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
        watched.append((errors, statuses))
        return page

    yield start
    for context in contexts:
        context.close()
    unexpected = [e for errors, statuses in watched for e in errors
                  if not any(f"status of {status}" in e for status in statuses)]  # fmt: skip
    assert not unexpected, "the pages logged errors:\n" + "\n".join(unexpected)


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as artifacts/screenshots/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
