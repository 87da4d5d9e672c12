"""Browser sign-in: password or API key for an HttpOnly cookie; CSRF guard on cookie writes; sign-out,
revocation and brute-force limits. Real uvicorn, Redis and SQLite; no sandbox needed."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from arena.cli import app as cli
from arena.store import accounts
from arena.store.db import make_engine
from arena.store.migrate import upgrade

PASSWORD = "correct-horse-battery"


def make_people(database_url: str) -> dict[str, str]:
    """An admin with a password and a contestant; returns their API keys."""
    upgrade(database_url)
    engine = make_engine(database_url)
    with Session(engine) as session, session.begin():
        root = accounts.create_contestant(session, "root", is_admin=True)
        accounts.set_password(root, PASSWORD)
        alice = accounts.create_contestant(session, "alice")
        keys = {"root": accounts.create_api_key(session, root)[1], "alice": accounts.create_api_key(session, alice)[1]}
    engine.dispose()
    return keys


@pytest.fixture
def site(api, database_url):
    keys = make_people(database_url)
    server = api(database_url=database_url, rate_limit=1_000_000)
    with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as client:
        yield client, keys


def sign_in(client: httpx.Client, **credentials: str) -> httpx.Response:
    return client.post("/session", json=credentials)


WRITE = {"X-Requested-With": "arena"}


def test_signed_out_is_not_an_error(site) -> None:
    client, _ = site
    answer = client.get("/session")
    assert answer.status_code == 200
    assert answer.json() == {"contestant": None, "expires_at": None}


def test_password_sign_in_sets_a_strict_httponly_cookie_that_authenticates(site) -> None:
    client, _ = site
    answer = sign_in(client, name="root", password=PASSWORD)
    assert answer.status_code == 200, answer.text
    assert answer.json()["contestant"] == {"id": 1, "name": "root", "is_admin": True}
    cookie = answer.headers["set-cookie"].lower()
    assert "arena_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert client.get("/session").json()["contestant"]["name"] == "root"
    assert client.get("/admin/tournaments").status_code == 200
    created = client.post("/admin/tournaments", json={"slug": "cup", "name": "Cup"}, headers=WRITE)
    assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    "credentials", [{"name": "root", "password": "wrong-password"}, {"name": "nobody", "password": PASSWORD}]
)
def test_wrong_credentials_get_one_answer(site, credentials) -> None:
    client, _ = site
    answer = sign_in(client, **credentials)
    assert answer.status_code == 401
    assert answer.json()["error"] == {"code": "INVALID_CREDENTIALS", "message": "those credentials are not valid"}
    assert "set-cookie" not in answer.headers
    assert client.get("/session").json()["contestant"] is None


def test_cookie_writes_need_the_csrf_header_and_change_nothing_without_it(site) -> None:
    client, _ = site
    sign_in(client, name="root", password=PASSWORD)
    refused = client.post("/admin/tournaments", json={"slug": "cup", "name": "Cup"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "CSRF_HEADER_MISSING"
    assert client.get("/admin/tournaments").json()["items"] == []


def test_api_key_sign_in_ends_when_the_key_is_revoked(site) -> None:
    client, keys = site
    answer = sign_in(client, api_key=keys["alice"])
    assert answer.json()["contestant"]["name"] == "alice"
    assert client.get("/bots").status_code == 200
    own = client.get("/keys").json()["items"]
    assert client.delete(f"/keys/{own[0]['id']}", headers=WRITE).status_code == 200
    expired = client.get("/bots")
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "SESSION_EXPIRED"
    assert client.get("/session").json()["contestant"] is None


def test_a_contestant_session_is_not_an_admin(site) -> None:
    client, keys = site
    sign_in(client, api_key=keys["alice"])
    assert client.get("/admin/tournaments").json()["error"]["code"] == "ADMIN_ONLY"


def test_sign_out_kills_the_session_even_for_a_replayed_cookie(site) -> None:
    client, _ = site
    sign_in(client, name="root", password=PASSWORD)
    token = client.cookies["arena_session"]
    assert client.delete("/session").status_code == 204
    assert "arena_session" not in client.cookies
    client.cookies.set("arena_session", token)
    replay = client.get("/admin/tournaments")
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "SESSION_EXPIRED"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"api_key": "x", "name": "root", "password": PASSWORD},
        {"name": "root"},
        {"password": PASSWORD},
        {"api_key": ""},
        {"name": "root", "password": "x" * 2000},
    ],
)
def test_malformed_sign_ins_are_refused_with_a_code(site, body) -> None:
    client, _ = site
    answer = client.post("/session", json=body)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "INVALID_REQUEST"


def test_guessing_is_rate_limited_per_name(site) -> None:
    client, _ = site
    codes = [sign_in(client, name="root", password=f"guess-{i}").status_code for i in range(11)]
    assert codes == [401] * 10 + [429]
    limited = sign_in(client, name="root", password=PASSWORD)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "TOO_MANY_SIGN_INS"
    assert int(limited.headers["retry-after"]) > 0
    assert sign_in(client, name="alice", password="another-guess").status_code == 401  # other names unaffected


def test_admins_set_passwords_on_the_command_line(database_url, tmp_path) -> None:
    runner = CliRunner()
    env = {"ARENA_DATABASE_URL": database_url, "ARENA_PASSWORD": PASSWORD}
    created = runner.invoke(cli, ["create-contestant", "judge", "--admin", "--password"], env=env)
    assert created.exit_code == 0, created.output
    assert created.output.strip().startswith("arena_")
    changed = runner.invoke(cli, ["set-password", "judge"], env=env | {"ARENA_PASSWORD": "another-password"})
    assert changed.exit_code == 0, changed.output
    missing = runner.invoke(cli, ["set-password", "ghost"], env=env)
    assert missing.exit_code != 0 and "ghost" in missing.output
    weak = runner.invoke(cli, ["set-password", "judge"], env=env | {"ARENA_PASSWORD": "short"})
    assert weak.exit_code != 0 and "WEAK_PASSWORD" in weak.output
    engine = make_engine(database_url)
    with Session(engine) as session:
        judge = accounts.contestant_by_name(session, "judge")
        assert judge is not None and judge.is_admin
        assert accounts.check_password(judge, "another-password")
        assert not accounts.check_password(judge, PASSWORD)
    engine.dispose()
