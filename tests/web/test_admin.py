"""The admin dashboard in a real browser: password sign-in, the creation form with the API's field errors
beside the right inputs, the lifecycle buttons, entrants with live CPU and memory, logs, disqualification and
recent uploads with their smoke tests. Real uvicorn, Redis, database and runc sandbox."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.sync_api import Page, expect

from tests.api.test_service import poll, upload
from tests.web.conftest import PASSWORD, SQLITE_ONLY, screenshot

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    SQLITE_ONLY,
    pytest.mark.sandbox,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runc") is None, reason="needs root and runc"),
]
SYMBOLS = ["SPY", "BTC-USD", "ETH-USD"]
BROKEN_BOT = b'raise RuntimeError("boom at import")\n'


def ready_bot(arena: SimpleNamespace, who: str, bot: str, source: bytes, filename: str = "bot.py") -> dict:
    """Upload a bot through the API and wait for its smoke test's verdict."""
    headers = arena.people[who]
    answer = upload(arena.client, headers, bot, filename, source)
    assert answer.status_code == 202, answer.text
    number = answer.json()["version"]
    return poll(lambda: arena.client.get(f"/bots/{bot}/versions/{number}", headers=headers).json(),
                lambda v: v["status"] != "pending")  # fmt: skip


def sign_in(page: Page, url: str, name: str = "root", password: str = PASSWORD) -> None:
    page.goto(url + "/admin")
    page.fill("#signin-form [name=name]", name)
    page.fill("#signin-form [name=password]", password)
    page.click("#signin-submit")


def near(page: Page, data_field: str):
    """The API's error for this field, shown beside its input (in the same field box)."""
    box = f'#create-form .field:has([data-field="{data_field}"])'
    return page.locator(f'{box} .field-error[data-error-for="{data_field}"]')


def test_admin_signs_in_with_a_password_and_out_again(arena, open_page, lenient_page):
    # A wrong password: an error on the form, which stays.
    page = lenient_page(401)
    sign_in(page, arena.url, password="not the password")
    expect(page.locator("#signin-form .form-errors")).to_contain_text("not valid")
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator("#tournaments")).to_have_count(0)
    assert page.input_value("#signin-form [name=password]") == ""  # not left in the page

    # A contestant who is not an admin is told so, and nothing of the dashboard loads.
    page = open_page()
    page.goto(arena.url + "/admin")
    page.fill("#signin-form [name=api_key]", arena.people["alice"]["X-API-Key"])
    page.click("#signin-submit")
    expect(page.locator("#not-admin")).to_contain_text("not an admin")
    expect(page.locator("#who")).to_contain_text("alice")
    expect(page.locator("#tournaments")).to_have_count(0)

    # The admin, with name and password.
    page = open_page()
    sign_in(page, arena.url)
    expect(page.locator("#who")).to_contain_text("root")
    expect(page.locator("#tournaments")).to_be_visible()
    expect(page.locator("#create-form [data-field='rules.max_leverage']")).to_have_value("2")  # the defaults
    page.click("#signout")
    expect(page.locator("#signin-form")).to_be_visible()
    page.reload()
    expect(page.locator("#signin-form")).to_be_visible()  # the session is gone, not just the view


def test_create_form_shows_the_apis_errors_beside_their_fields_then_the_lifecycle(arena, lenient_page):
    page = lenient_page(409, 422)
    sign_in(page, arena.url)
    form = page.locator("#create-form")
    expect(form.locator("[data-field='rules.fees.crypto.taker_bps']")).to_have_value("20")
    form.locator("[name=slug]").fill("cup")
    form.locator("[name=name]").fill("Spring Cup")
    form.locator("[name=feed]").fill("synthetic:3")
    form.locator("[name=symbols]").fill(", ".join(SYMBOLS))

    # A body error (INVALID_REQUEST) beside its input.
    form.locator("[name=ticks]").fill("0")
    page.click("#create-submit")
    expect(near(page, "ticks")).to_contain_text("greater than or equal to 1")
    # Ruleset errors (INVALID_RULESET), each beside its own input; nothing is created.
    form.locator("[name=ticks]").fill("50")
    form.locator("[data-field='rules.max_leverage']").fill("0")
    form.locator("[data-field='rules.fees.crypto.taker_bps']").fill("-5")
    page.click("#create-submit")
    expect(near(page, "rules.max_leverage")).to_have_text("Input should be greater than 0")
    expect(near(page, "rules.fees.crypto.taker_bps")).to_contain_text("greater than or equal to 0")
    expect(near(page, "ticks")).to_have_count(0)  # the earlier error is gone
    expect(form.locator("[data-field='rules.max_leverage']")).to_have_attribute("aria-invalid", "true")
    expect(near(page, "rules.starting_balance")).to_have_count(0)
    screenshot(page, "admin-create-errors")
    assert arena.client.get("/admin/tournaments", headers=arena.admin).json()["items"] == []

    # Valid values: created, listed as a draft, and only what differs from the default is sent.
    form.locator("[data-field='rules.max_leverage']").fill("1.5")
    form.locator("[data-field='rules.fees.crypto.taker_bps']").fill("25")
    form.locator("[data-field='rules.short_selling']").uncheck()
    page.click("#advanced summary")
    form.locator("[data-field='rules']").fill('{"slippage": {"crypto": {"gamma": 0.02}}}')
    page.click("#create-submit")
    row = page.locator("#tournaments tr[data-slug='cup']")
    expect(row).to_contain_text("Spring Cup")
    expect(row.locator(".badge-draft")).to_be_visible()
    expect(form.locator(".field-error")).to_have_count(0)
    listed = arena.client.get("/admin/tournaments", headers=arena.admin).json()["items"]
    created = next(t for t in listed if t["slug"] == "cup")
    assert created["rules"] == {
        "max_leverage": 1.5,
        "short_selling": False,
        "fees": {"crypto": {"taker_bps": 25}},
        "slippage": {"crypto": {"gamma": 0.02}},
    }
    assert (created["ticks"], created["feed"]) == (50, "synthetic:3")

    # The same slug again: the conflict is shown in the form's error box.
    form.locator("[name=slug]").fill("cup")
    form.locator("[name=name]").fill("Again")
    page.click("#create-submit")
    expect(form.locator(".form-errors")).to_contain_text("cup")
    expect(page.locator("#tournaments tr[data-slug]")).to_have_count(1)

    # Lifecycle: only the legal buttons are enabled; draft → open → cancelled (with an inline confirm).
    detail = page.locator("#tournament-detail")
    expect(detail.locator("#detail-title")).to_contain_text("draft")
    expect(page.locator("#action-open")).to_be_enabled()
    for action in ("start", "stop", "freeze", "rerun"):
        expect(page.locator(f"#action-{action}")).to_be_disabled()
    page.click("#action-open")
    expect(detail.locator("#detail-title .badge-open")).to_be_visible()
    expect(row.locator(".badge-open")).to_be_visible()
    expect(page.locator("#action-open")).to_be_disabled()
    expect(page.locator("#action-start")).to_be_disabled()  # no entrants yet
    expect(page.locator("#action-cancel")).to_be_enabled()
    page.click("#action-cancel")
    expect(page.locator("#action-cancel")).to_have_text("Confirm cancel")
    page.click("#action-cancel")
    expect(detail.locator("#detail-title .badge-cancelled")).to_be_visible()
    expect(page.locator("#action-rerun")).to_be_enabled()
    expect(page.locator("#action-cancel")).to_be_disabled()
    assert arena.client.get("/admin/tournaments/cup", headers=arena.admin).json()["status"] == "cancelled"


def test_entrants_show_live_usage_logs_and_can_be_disqualified(arena, open_page):
    source = (ROOT / "examples/bots/market_maker.py").read_bytes()
    assert ready_bot(arena, "alice", "maker", source, "market_maker.py")["status"] == "ready"
    holder = (ROOT / "examples/bots/buy_and_hold.py").read_bytes()
    assert ready_bot(arena, "bob", "holder", holder, "buy_and_hold.py")["status"] == "ready"
    # Realtime, 0.1 s a tick: long enough to watch it run; the test stops it.
    created = arena.client.post("/admin/tournaments", headers=arena.admin, json={
        "slug": "live", "name": "Live Cup", "rules": {"symbols": SYMBOLS}, "feed": "synthetic:5", "ticks": 900,
        "clock": "realtime", "tick_deadline_s": 0.1})  # fmt: skip
    assert created.status_code == 201, created.text
    arena.client.post("/admin/tournaments/live/open", headers=arena.admin)
    entries = {}
    for who, bot in (("alice", "maker"), ("bob", "holder")):
        answer = arena.client.post("/tournaments/live/entries", json={"bot": bot}, headers=arena.people[who])
        assert answer.status_code == 201, answer.text
        entries[who] = answer.json()["id"]

    page = open_page()
    sign_in(page, arena.url)
    page.click("#tournaments tr[data-slug='live']")
    alice = page.locator(f"#entrants tr[data-entry='{entries['alice']}']")
    expect(alice.locator("[data-col=bot]")).to_have_text("alice:maker")
    expect(alice.locator("[data-col=owner]")).to_have_text("alice")
    expect(alice.locator("[data-col=status] .badge")).to_have_text("entered")
    expect(page.locator("#entrants tr[data-entry]")).to_have_count(2)

    page.click("#action-start")
    expect(page.locator("#detail-title .badge-running")).to_be_visible()
    # Live figures from the sandbox, refreshed every 2 s while it runs.
    expect(alice.locator("[data-col=cpu]")).to_contain_text(re.compile(r"\d+\.\d%"), timeout=20_000)
    expect(alice.locator("[data-col=memory]")).to_contain_text(re.compile(r"\d(\.\d)? (KiB|MiB)"))
    expect(page.locator("#detail-facts")).to_contain_text(re.compile(r"tick \d+ of 900"))
    screenshot(page, "admin-dashboard")

    # The logs viewer.
    alice.locator("[data-action=logs]").click()
    viewer = page.locator("#log-viewer")
    expect(viewer).to_be_visible()
    expect(viewer.locator("h3")).to_contain_text("alice:maker")
    expect(viewer.locator("pre.log")).to_be_visible()

    # Disqualify: the first click asks, the second acts.
    button = alice.locator("[data-action=disqualify]")
    button.click()
    expect(button).to_have_text("Confirm")
    button.click()
    expect(alice.locator("[data-col=status] .badge-disqualified")).to_be_visible()
    expect(button).to_be_disabled()
    assert arena.client.get("/entries", headers=arena.people["alice"]).json()["items"][0]["disqualified"] is True
    bob = page.locator(f"#entrants tr[data-entry='{entries['bob']}'] [data-action=disqualify]")
    expect(bob).to_be_enabled()

    # Stop it now: it finishes with the standings so far; the log viewer shows how the run ended.
    page.click("#action-stop")
    page.click("#action-stop")
    expect(page.locator("#detail-title .badge-finished")).to_be_visible(timeout=30_000)
    expect(page.locator("#action-rerun")).to_be_enabled()
    expect(alice.locator("[data-col=end] .badge")).to_be_visible()
    expect(viewer.locator(".kv")).to_contain_text("Status")


def test_recent_uploads_show_their_smoke_tests(arena, open_page):
    good = ready_bot(arena, "alice", "holder", (ROOT / "examples/bots/buy_and_hold.py").read_bytes())
    bad = ready_bot(arena, "bob", "crasher", BROKEN_BOT)
    assert (good["status"], bad["status"]) == ("ready", "failed")

    page = open_page()
    sign_in(page, arena.url)
    ready = page.locator(f"#uploads tr[data-upload='{good['id']}']")
    failed = page.locator(f"#uploads tr[data-upload='{bad['id']}']")
    expect(ready.locator("[data-col=owner]")).to_have_text("alice")
    expect(ready.locator("[data-col=status] .badge-ready")).to_be_visible()
    expect(failed.locator("[data-col=owner]")).to_have_text("bob")
    expect(failed.locator("[data-col=bot]")).to_have_text("crasher")
    expect(failed.locator("[data-col=status] .badge-failed")).to_be_visible()
    expect(failed.locator("[data-col=smoke] .badge")).to_have_text(bad["end_classification"])
    expect(failed.locator("pre.log")).to_be_hidden()
    failed.locator("summary").click()
    expect(failed.locator("pre.log")).to_contain_text("boom at import")
    assert page.locator("#uploads tr[data-upload]").first.get_attribute("data-upload") == str(bad["id"])  # newest first
    # A later upload shows up when the list refreshes.
    source = (ROOT / "examples/bots/buy_and_hold.py").read_bytes()
    answer = upload(arena.client, arena.people["alice"], "holder", "bh.py", source)
    page.click("#uploads-refresh")
    later = page.locator(f"#uploads tr[data-upload='{answer.json()['id']}']")
    expect(later.locator("[data-col=version]")).to_have_text("v2")
    expect(later.locator("[data-col=status] .badge-ready")).to_be_visible(timeout=60_000)  # followed while pending
