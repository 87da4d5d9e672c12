"""`arena worker` refuses a Redis or (an engine worker) a database it cannot reach, with a code and a message,
before Celery starts."""

from __future__ import annotations

from typer.testing import CliRunner

from arena.cli import app
from arena.runtime.redis_server import free_port


def test_a_worker_refuses_an_unreachable_redis_with_a_clear_message() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    result = CliRunner().invoke(app, ["worker", "--redis-url", url])
    assert result.exit_code == 1
    assert "REDIS_UNREACHABLE" in result.output and url in result.output and "Traceback" not in result.output


def test_a_worker_without_any_redis_says_how_to_name_one(monkeypatch) -> None:
    monkeypatch.delenv("ARENA_REDIS_URL", raising=False)
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 1 and "NO_REDIS" in result.output


def test_an_engine_worker_refuses_an_unreachable_database_with_a_clear_message(redis_url: str) -> None:
    url = f"postgresql+psycopg://arena:secret@127.0.0.1:{free_port()}/arena"  # nothing listens there
    result = CliRunner().invoke(app, ["worker", "--queues", "engine", "--redis-url", redis_url],
                                env={"ARENA_DATABASE_URL": url})  # fmt: skip
    assert result.exit_code == 1
    assert "DATABASE_UNREACHABLE" in result.output and "127.0.0.1" in result.output
    assert "secret" not in result.output and "Traceback" not in result.output


def test_a_worker_refuses_unknown_queues(redis_url: str) -> None:
    result = CliRunner().invoke(app, ["worker", "--queues", "engine,bogus", "--redis-url", redis_url])
    assert result.exit_code == 1 and "BAD_QUEUES" in result.output
