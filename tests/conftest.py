"""Fixtures shared by every test package."""

from __future__ import annotations

import pytest

from arena.catalog import load_catalog
from arena.engine.instruments import InstrumentCatalog


@pytest.fixture(scope="session")
def catalog() -> InstrumentCatalog:
    """The packaged default instrument catalog."""
    return load_catalog()
