"""`arena demo --web`: the service comes up on loopback with a started tournament of real sandboxed bots."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from arena import showcase
from arena.cli import DEMO_RULES

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runc") is None, reason="needs root and runc"),
]


def test_the_web_demo_stages_a_running_tournament_and_cleans_up(redis_url, monkeypatch) -> None:
    from arena.runtime.redis_server import free_port

    monkeypatch.setenv("ARENA_REDIS_URL", redis_url)
    bots = {"holder": ROOT / "examples/bots/buy_and_hold.py", "maker": ROOT / "examples/bots/market_maker.py"}
    seen: dict = {}

    def ready(site: showcase.Showcase) -> bool:
        with httpx.Client(base_url=site.url, timeout=30) as client:
            seen["view"] = client.get("/api/v1/tournaments/demo").json()
            seen["page"] = client.get("/t/demo")
            signed = client.post("/api/v1/session", json={"name": "admin", "password": site.admin_password})
            seen["admin"] = signed.json()["contestant"]
        seen["spectator_url"] = site.spectator_url()
        return False  # shut down now

    port = free_port()
    showcase.serve(bots, DEMO_RULES, port=port, ticks=20, tick_s=0.2, seed=3, ready=ready)
    view = seen["view"]
    assert view["status"] == "running" and view["clock"] == "realtime"
    assert view["bots"] == ["holder:holder", "maker:maker"]
    assert "Only these symbols trade" in " ".join(view["rules_text"])
    assert seen["page"].status_code == 200 and "text/html" in seen["page"].headers["content-type"]
    assert seen["admin"]["is_admin"] is True
    assert seen["spectator_url"] == f"http://127.0.0.1:{port}/t/demo"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
