"""The API needs no root: `arena serve` started as an ordinary user (uid 4242: no groups, no capabilities), with
Redis and SQLite, takes an upload and a bot host running as root (runc/runsc need it) smoke-tests it.

The upload is read and compiled in the API's quarantined child, which as an ordinary user keeps that user and
runs in a user and network namespace of its own (arena/uploads/quarantine.py); the store is the API user's, and
the bot host reads it as root. Real `arena serve` and `arena worker` processes, Redis, SQLite and runsc.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.runtime.redis_server import free_port
from tests.api.conftest import enrol
from tests.api.test_engine_loss import _get
from tests.api.test_service import ROOT, admin_key, poll, upload
from tests.processes import stop
from tests.unprivileged import USER, command_as, owned_by

pytestmark = [pytest.mark.sandbox,
              pytest.mark.skipif(os.geteuid() != 0, reason="starting the API as another user needs root")]
ARENA = str(Path(sys.executable).parent / "arena")


@pytest.fixture
def unprivileged_service(redis_url: str, tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[bytes], Path]]:
    """`arena serve` as uid 4242 and `arena worker --queues bots` as root, on one data dir that is 4242's (in a
    folder anyone may pass through: pytest's own temporary folders are root's alone)."""
    outer = Path(tempfile.mkdtemp(prefix="arena-api-as-user-"))
    outer.chmod(0o711)
    data = outer / "data"
    database = f"sqlite:///{data / 'arena.db'}"
    key = admin_key(database)  # migrates and creates the first admin, as `arena admin create` would (root here)
    for path in [data, *data.rglob("*")]:
        os.chown(path, USER, USER)
    owned_by(USER, data)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "HOME": str(data),
           "ARENA_DATABASE_URL": database, "ARENA_REDIS_URL": redis_url, "ARENA_DATA_DIR": str(data),
           "ARENA_RATE_LIMIT": "1000000"}
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    api = subprocess.Popen(command_as(USER, [ARENA, "serve", "--port", str(port)], tmp_path), env=env, cwd=data,
                           stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    host = subprocess.Popen([ARENA, "worker", "--queues", "bots", "--slots", "1", "--name", f"root-host-{port}"],
                            env=os.environ | env, stdout=subprocess.DEVNULL, start_new_session=True,
                            stderr=(tmp_path / "worker.log").open("wb"))
    try:
        url = f"http://127.0.0.1:{port}"
        answer = poll(lambda: _get(url + "/healthz"), lambda r: r is not None and r.status_code == 200, 120)
        assert answer is not None, (tmp_path / "serve.log").read_text()[-3000:]
        yield url, key, api, data
    finally:
        stop(api)
        stop(host)
        log.close()
        shutil.rmtree(outer, ignore_errors=True)


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def test_the_api_runs_as_an_ordinary_user_and_takes_an_upload(unprivileged_service) -> None:
    url, key, api, data = unprivileged_service
    status = _status(api.pid)  # unshare, sh and setpriv each exec the next: the API is the started process
    assert status["Uid"].split() == [str(USER)] * 4 and status["CapEff"] == "0000000000000000", status
    client, _, people = enrol(url, key, ("alice",))
    source = (ROOT / "examples/bots/buy_and_hold.py").read_bytes()
    answer = upload(client, people["alice"], "holder", "buy_and_hold.py", source)
    assert answer.status_code == 202, answer.text
    version = poll(lambda: client.get("/bots/holder/versions/1", headers=people["alice"]).json(),
                   lambda v: v["status"] != "pending", timeout_s=90)
    assert version["status"] == "ready", version
    stored = next(path for path in (data / "bots").rglob("main.py"))
    assert stored.stat().st_uid == USER and stored.read_bytes() == source
    refused = upload(client, people["alice"], "holder", "bot.py", b"x = = 1\n")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "SYNTAX_ERROR", refused.text
    client.close()


def test_an_upload_the_service_cannot_check_is_a_503_with_the_envelope(api, database_url: str) -> None:
    """ARENA_UPLOAD_CHECK_USER names the checker's user; one that does not exist is the service's fault."""
    key = admin_key(database_url)
    server = api(database_url=database_url, rate_limit=1_000_000, upload_check_user="no-such-user-for-arena")
    client, _, people = enrol(server.url, key, ("alice",))
    answer = upload(client, people["alice"], "holder", "bot.py", b"import arena_bot\n")
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "CHECK_UNAVAILABLE" and "no-such-user-for-arena" in error["message"]
    assert client.get("/bots", headers=people["alice"]).json()["items"] == []  # nothing stored, no bot created
    client.close()
