"""`arena demo`: the tournament runs on the planes of production (an engine worker and a bot host, each its own
process), and comes out bit for bit as the same spec run in one process by ``run_local``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from arena.cli import DEMO_RULES
from arena.runtime.local import run_local
from arena.runtime.spec import EntrySpec, TournamentSpec

ROOT = Path(__file__).resolve().parents[2]
ARENA = str(Path(sys.executable).parent / "arena")

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("sandbox_runtime")]


def test_the_demo_on_its_planes_equals_a_run_in_one_process(redis_url: str, catalog) -> None:
    answer = subprocess.run([ARENA, "demo", "--ticks", "40", "--seed", "3", "--json"], capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert answer.returncode == 0, answer.stderr[-3000:]
    demo = json.loads(answer.stdout)
    bots = sorted((ROOT / "examples" / "bots").glob("*.py"))
    entries = [EntrySpec(bot=p.stem.replace("_", "-"), path=str(p)) for p in bots]
    spec = TournamentSpec(id="demo-in-one", rules=DEMO_RULES, feed="synthetic:3", ticks=40, seed=3, entries=entries)
    standings, _ = run_local(redis_url, spec, catalog)
    assert demo["tournament"] == "demo-3"
    assert demo["standings"] == [s.as_dict() for s in standings]
    assert {s["status"] for s in demo["standings"]} == {"finished"}
