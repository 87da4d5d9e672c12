"""The ``arena`` command's own contract: its version, shell completion, and exit codes (1 for a domain error with
its code, 2 for a usage error, as click has it)."""

from __future__ import annotations

from importlib.metadata import version

from typer.testing import CliRunner

from arena.cli import app

runner = CliRunner()


def test_version_is_the_installed_packages() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"arena {version('arena')}"


def test_shell_completion_is_offered() -> None:
    result = runner.invoke(app, ["--show-completion", "bash"], env={"SHELL": "/bin/bash"})
    assert result.exit_code == 0 and "_ARENA_COMPLETE" in result.output


def test_a_domain_error_exits_1_and_a_usage_error_2() -> None:
    domain = runner.invoke(app, ["worker", "--queues", "engine"], env={"ARENA_REDIS_URL": ""})
    assert domain.exit_code == 1 and "NO_REDIS" in domain.output
    usage = runner.invoke(app, ["worker", "--no-such-option"])
    assert usage.exit_code == 2
