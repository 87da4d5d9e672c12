"""Long `arena` commands show progress on stderr: on a terminal by default, into a pipe only with --progress,
never on stdout. `--json` output stays one JSON object whatever the progress (arena/progress.py)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from arena.images import cli as images_cli

ROOT = Path(__file__).resolve().parents[1]
ARENA = str(Path(sys.executable).parent / "arena")
BOT = str(ROOT / "arena" / "examples" / "bots" / "buy_and_hold.py")
BACKTEST = [ARENA, "backtest", BOT, "--ticks", "390"]
HIDE_CURSOR = "\x1b[?25l"  # what a live progress display writes first


def _with_terminal_stderr(args: list[str]) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run ``args`` with stderr on a pseudo-terminal (stdout a pipe): the answer, and what the terminal showed."""
    main, child = pty.openpty()
    shown = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child's side closed (EIO)
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        answer = subprocess.run(args, stdout=subprocess.PIPE, stderr=child, text=True, timeout=120,
                                env={**os.environ, "COLUMNS": "120", "TERM": "xterm"})  # fmt: skip
    finally:
        os.close(child)
        reader.join(timeout=10)
        os.close(main)
    return answer, shown.decode(errors="replace")


def test_json_stays_pure_and_forced_progress_goes_to_stderr() -> None:
    plain = subprocess.run([*BACKTEST, "--json"], capture_output=True, text=True, timeout=120)
    forced = subprocess.run([*BACKTEST, "--json", "--progress"], capture_output=True, text=True, timeout=120)
    assert plain.returncode == forced.returncode == 0, forced.stderr[-2000:]
    assert json.loads(forced.stdout) == json.loads(plain.stdout)  # one JSON object, nothing else on stdout
    assert forced.stdout.count("\n") == 1 and "\x1b" not in forced.stdout
    assert HIDE_CURSOR not in plain.stderr and "390/390" not in plain.stderr  # a pipe: no progress unless asked
    assert "reading the feed synthetic:42" in forced.stderr and "backtest buy_and_hold.py" in forced.stderr
    assert "390/390" in forced.stderr  # the bar, at its end


def test_progress_shows_on_a_terminal_by_default_and_not_with_json() -> None:
    report, shown = _with_terminal_stderr(BACKTEST)
    assert report.returncode == 0 and "NAV" in report.stdout and HIDE_CURSOR not in report.stdout
    assert HIDE_CURSOR in shown and "390/390" in shown and "backtest buy_and_hold.py" in shown
    as_json, quiet = _with_terminal_stderr([*BACKTEST, "--json"])
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["ticks"] == 390
    assert HIDE_CURSOR not in quiet and "390/390" not in quiet
    off, none = _with_terminal_stderr([*BACKTEST, "--no-progress"])
    assert off.returncode == 0 and HIDE_CURSOR not in none and "390/390" not in none


@pytest.mark.parametrize("as_json", [False, True])
def test_an_image_build_shows_its_latest_step_and_logs_unless_json(capsys, as_json: bool) -> None:
    with images_cli._shown("the runner image", True, as_json) as shown:
        shown("importing base.tar")
        shown("exporting abc to /x")
    out, err = capsys.readouterr()
    assert out == ""  # never on stdout: --json prints its one object there
    assert "building the runner image" in err and "exporting abc to /x" in err  # the spinner's latest step
    assert ("importing base.tar" in err) is not as_json  # the build's log, on stderr, unless --json
    with images_cli._shown("the runner image", None, False) as shown:  # not a terminal: the log only
        shown("importing base.tar")
    out, err = capsys.readouterr()
    assert out == "" and "importing base.tar" in err and HIDE_CURSOR not in err and "building" not in err
