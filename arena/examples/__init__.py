"""Example bots, shipped in the package so that `arena demo` finds them wherever Arena is installed.

``bots/`` holds one bot per file (also reachable as ``examples/bots`` in the source tree); :data:`BOTS` is that
folder as installed."""

from __future__ import annotations

from pathlib import Path

BOTS = Path(__file__).resolve().parent / "bots"
