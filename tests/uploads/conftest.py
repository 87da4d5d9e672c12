"""Fixtures for the upload tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.uploads import BundleStore


@pytest.fixture
def store(tmp_path: Path) -> BundleStore:
    return BundleStore(tmp_path / "bots")
