"""The packaged catalog's cache (arena/catalog.py, arena/cache.py): its YAML parsed once, read back as JSON by later
runs, the same catalog either way; an entry that is damaged or not ours is parsed again, never trusted."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources

import pytest

from arena.catalog import load_catalog, parse_catalog
from arena.engine.instruments import CatalogError

TEXT = (resources.files("arena") / "data" / "instruments.yaml").read_text(encoding="utf-8")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARENA_CACHE_DIR", str(tmp_path))
    return tmp_path / "catalog"


def test_the_cached_catalog_is_the_parsed_one(cache):
    parsed = parse_catalog(TEXT, "packaged")
    assert load_catalog() == parsed and not any(cache.glob(".tmp-*"))
    (entry,) = cache.glob("*.json")
    stored = json.loads(entry.read_text())
    assert any("$date" in json.dumps(i) for i in stored["instruments"].values()), "futures' expiries, tagged"
    entry.write_text(entry.read_text().replace('"tick_size"', '"tick_size_"', 1) + " ")  # differs, stays ours
    with pytest.raises(CatalogError, match="tick_size"):  # what is read back is validated as the YAML would be
        load_catalog()
    entry.unlink()
    again = load_catalog()
    assert again == parsed and any(isinstance(i.expiry, date) for i in again.values() if getattr(i, "expiry", None))


DAMAGE = ["", "{not json", '{"instruments": {"X": {"expiry": {"$date": 5}}}}', "x" * 3_000_000]


@pytest.mark.parametrize("damage", DAMAGE, ids=["empty", "not-json", "bad-date", "too-large"])
def test_a_damaged_entry_is_parsed_again(cache, damage):
    load_catalog()
    (entry,) = cache.glob("*.json")
    entry.write_text(damage)
    assert load_catalog() == parse_catalog(TEXT, "packaged")


def test_another_yaml_release_does_not_read_the_entry_of_this_one(cache, monkeypatch):
    import yaml

    load_catalog()
    (first,) = cache.glob("*.json")
    first.write_text('{"instruments": {}}')  # what a YAML release reading the text otherwise might have stored
    monkeypatch.setattr(yaml, "__version__", yaml.__version__ + ".other")
    assert load_catalog() == parse_catalog(TEXT, "packaged")  # parsed again, not the other release's entry
    assert len(list(cache.glob("*.json"))) == 2
