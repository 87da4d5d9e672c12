"""The contestant pages in a real browser: API-key sign-in, uploading bots by drag and drop and by file
input with the smoke test's verdict, entering an open tournament, and one's own results with the equity
curve and logs; on a desktop and a phone. Real uvicorn, Redis, database and runc sandbox."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.api.test_service import poll
from tests.web.conftest import SQLITE_ONLY, screenshot
from tests.web.test_admin import BROKEN_BOT, SYMBOLS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    SQLITE_ONLY,
    pytest.mark.sandbox,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runc") is None, reason="needs root and runc"),
]


def sign_in(page: Page, url: str, key: str) -> None:
    page.goto(url + "/me")
    page.fill("#signin-form [name=api_key]", key)
    page.click("#signin-submit")


def python_file(name: str, data: bytes) -> dict:
    return {"name": name, "mimeType": "text/x-python", "buffer": data}


def drop_file(page: Page, selector: str, filename: str, text: str) -> None:
    """Drag a file over the zone and drop it, as a browser does: a DataTransfer built in the page."""
    page.evaluate(
        """([selector, filename, text]) => {
            const zone = document.querySelector(selector);
            const data = new DataTransfer();
            data.items.add(new File([text], filename, { type: "text/x-python" }));
            zone.dispatchEvent(new DragEvent("dragenter", { dataTransfer: data, bubbles: true, cancelable: true }));
            zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
            window.__overWhileDragging = zone.classList.contains("over");
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
        }""",
        [selector, filename, text],
    )
    assert page.evaluate("window.__overWhileDragging") is True


def test_a_bad_key_and_a_bad_upload_show_their_errors(arena, lenient_page):
    page = lenient_page(401, 422)
    sign_in(page, arena.url, "arena_nope_nope")
    expect(page.locator("#signin-form .form-errors")).to_contain_text("not valid")
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator("#dropzone")).to_have_count(0)

    sign_in(page, arena.url, arena.people["alice"]["X-API-Key"])
    expect(page.locator("#who")).to_contain_text("alice")
    expect(page.locator("#bots")).to_contain_text("No bots yet")
    # A file the upload checks refuse: the API's code and message, and no bot.
    page.set_input_files("#upload-file", files=[python_file("bad.py", b"def broken(:\n")])
    expect(page.locator("#upload-bot")).to_have_value("bad")
    page.click("#upload-submit")
    expect(page.locator("#upload-form .form-errors")).to_contain_text("SYNTAX_ERROR")
    # A name the API would refuse is caught before sending.
    page.fill("#upload-bot", "no spaces please")
    page.set_input_files("#upload-file", files=[python_file("ok.py", b"x = 1\n")])
    expect(page.locator("#upload-bot")).to_have_value("no spaces please")  # a name typed by hand stays
    page.click("#upload-submit")
    expect(page.locator('#upload-form .field-error[data-error-for="bot"]')).to_contain_text("letters, digits")
    assert arena.client.get("/bots", headers=arena.people["alice"]).json()["items"] == []


def test_contestant_uploads_enters_and_follows_results(arena, open_page):
    alice = arena.people["alice"]["X-API-Key"]
    page = open_page()
    sign_in(page, arena.url, alice)
    expect(page.locator("#who")).to_contain_text("alice")
    expect(page.locator("#enter-tournament")).to_be_disabled()  # nothing is open yet

    # Drag and drop: the bot's name comes from the file's.
    drop_file(page, "#dropzone", "buy_and_hold.py", (ROOT / "examples/bots/buy_and_hold.py").read_text())
    expect(page.locator("#dropzone")).not_to_have_class(re.compile(r"\bover\b"))
    expect(page.locator("#upload-chosen")).to_contain_text("buy_and_hold.py")
    expect(page.locator("#upload-bot")).to_have_value("buy_and_hold")
    page.click("#upload-submit")
    expect(page.locator("#upload-result")).to_have_attribute("data-status", "ready", timeout=60_000)
    version = page.locator("#bots tr[data-version='buy_and_hold:1']")
    expect(version.locator("[data-col=status] .badge-ready")).to_be_visible()
    expect(version).to_contain_text(re.compile(r"[0-9a-f]{12}"))

    # The file input: a bot that raises at import fails its smoke test, with the log to show why.
    page.set_input_files("#upload-file", files=[python_file("my crasher!.py", BROKEN_BOT)])
    expect(page.locator("#upload-bot")).to_have_value("my_crasher")
    page.click("#upload-submit")
    expect(page.locator("#upload-result")).to_have_attribute("data-status", "failed", timeout=60_000)
    expect(page.locator("#upload-result pre.log")).to_contain_text("boom at import")
    crashed = page.locator("#bots tr[data-version='my_crasher:1']")
    expect(crashed.locator("[data-col=status] .badge-failed")).to_be_visible()
    crashed.locator("summary").click()
    expect(crashed.locator("pre.log")).to_contain_text("boom at import")
    screenshot(page, "contestant-bots")

    # An admin opens a tournament: it shows up in the entry form; only bots with a ready version are offered.
    created = arena.client.post(
        "/admin/tournaments",
        headers=arena.admin,
        json={
            "slug": "cup",
            "name": "Cup",
            "rules": {"symbols": SYMBOLS},
            "feed": "synthetic:3",
            "ticks": 60,
            "seed": 3,
        },
    )
    assert created.status_code == 201, created.text
    arena.client.post("/admin/tournaments/cup/open", headers=arena.admin)
    expect(page.locator("#enter-tournament option[value='cup']")).to_have_count(1)
    expect(page.locator("#enter-bot option")).to_have_text(["buy_and_hold"])
    expect(page.locator("#enter-version")).to_have_value("1")
    page.click("#enter-submit")
    entry = page.locator("#entries tr[data-entry]")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("alice:buy_and_hold")
    expect(entry.locator("[data-col=status] .badge-entered")).to_be_visible()

    # It runs (bob's bot too); afterwards the entry's card: figures, the equity curve and the log.
    bob = arena.people["bob"]
    arena.client.post(
        "/bots/maker/versions",
        headers=bob,
        files={"file": ("mm.py", (ROOT / "examples/bots/market_maker.py").read_bytes())},
    )
    poll(lambda: arena.client.get("/bots/maker/versions/1", headers=bob).json(), lambda v: v["status"] != "pending")
    assert arena.client.post("/tournaments/cup/entries", json={"bot": "maker"}, headers=bob).status_code == 201
    assert arena.client.post("/admin/tournaments/cup/start", headers=arena.admin).status_code == 200
    done = poll(lambda: arena.client.get("/admin/tournaments/cup", headers=arena.admin).json(),
                lambda t: t["status"] == "finished")  # fmt: skip
    assert done["status"] == "finished"
    expect(entry.locator("[data-col=tournament] .badge-finished")).to_be_visible(timeout=20_000)
    entry.locator("[data-action=results]").click()
    detail = page.locator("#entry-detail")
    expect(detail.locator("#entry-chart canvas").first).to_be_visible()
    expect(detail.locator("[data-fact=rank]")).to_contain_text(re.compile(r"#[12] \(final\)"))
    expect(detail.locator("[data-fact=nav]")).to_contain_text("$")
    expect(detail.locator("[data-fact=trades]")).to_have_text(re.compile(r"^\d+$"))
    expect(detail.locator("#entry-log")).not_to_have_text("…")
    screenshot(page, "contestant-results")

    # On a phone: the same results, and nothing wider than the screen.
    phone = open_page(phone=True)
    sign_in(phone, arena.url, alice)
    expect(phone.locator("#entry-detail #entry-chart canvas").first).to_be_visible()  # shown without a click
    expect(phone.locator("#bots tr[data-version]")).to_have_count(2)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "contestant-phone")
    phone.click("#signout")
    expect(phone.locator("#signin-form")).to_be_visible()
