"""The ``arena`` command's own contract: its version, shell completion, exit codes (1 for a domain error with its
code, 2 for a usage error, as click has it), and its command groups, mounted lazily but listed and run as any other."""

from __future__ import annotations

import json
from importlib.metadata import version

from typer.testing import CliRunner

from arena.cli import LAZY_GROUPS, app

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


def test_the_lazily_mounted_groups_are_listed_run_and_suggested() -> None:
    listing = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    rows = listing.output.split("Commands")[1].splitlines()[1:]
    commands = [row.split()[1] for row in rows if row.startswith("│ ") and row[2] != " "]  # not a wrapped line
    assert listing.exit_code == 0 and commands[-2:] == list(LAZY_GROUPS) and "backtest" in commands
    assert "Run untrusted bots in the sandbox" in listing.output and "The runner image bots run on" in listing.output
    group = runner.invoke(app, ["sandbox", "--help"], env={"COLUMNS": "200"})
    assert group.exit_code == 0 and "Usage: arena sandbox" in group.output and "rootfs" in group.output
    info = runner.invoke(app, ["images", "info", "--json", "--images-dir", "/nonexistent"])
    assert info.exit_code == 1 and json.loads(info.output)["error"]["code"] == "NO_ROOTFS"
    typo = runner.invoke(app, ["sandbx"])
    assert typo.exit_code == 2 and "Did you mean 'sandbox'?" in typo.output
