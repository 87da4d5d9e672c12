"""Loading the instrument catalog from a file (the imperative shell around
:meth:`arena.engine.instruments.InstrumentCatalog.from_mapping`)."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from arena.cache import cache_dir, load_json, store_json
from arena.engine.instruments import CatalogError, Instrument, InstrumentCatalog

DEFAULT_CATALOG = "arena/data/instruments.yaml"


# libyaml's parser when PyYAML has it (its wheels do): the packaged catalog parses ten times faster.
_SafeLoader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


class _StrictLoader(_SafeLoader):  # type: ignore[valid-type,misc]  # a base picked at import time
    """SafeLoader that rejects duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # unhashable key: construct_mapping below reports it
            continue
        if duplicate:
            raise CatalogError(f"{key}: duplicate key, listed twice (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise CatalogError(f"{key}: duplicate key, listed twice")
        out[key] = value
    return out


_CACHE_FORMAT = 1  # bump when _StrictLoader, _dated or _undated change what a cached catalog holds


def _dated(value: Any) -> dict[str, str]:
    if type(value) is date:  # the only value YAML gives that JSON has not (futures' expiries)
        return {"$date": value.isoformat()}
    raise TypeError(f"{type(value).__name__} in a catalog")


def _undated(obj: dict[str, Any]) -> Any:
    return date.fromisoformat(obj["$date"]) if obj.keys() == {"$date"} else obj


def _storable(data: Any) -> bool:
    """Whether ``data`` comes back from its JSON as it is (no int keys, no timestamps: those are not stored)."""
    try:
        return bool(json.loads(json.dumps(data, default=_dated), object_hook=_undated) == data)
    except (TypeError, ValueError):
        return False


def _parsed_yaml(text: str, cached: bool) -> Any:
    """The data of a YAML catalog; with ``cached``, kept as JSON under the text's digest, which parses 30 times
    faster than the YAML (about 30 ms of each backtest's start-up). The data is validated afterwards either way."""
    # Keyed by what the data depends on besides the text: the YAML parser's release and how this module reads it.
    key = f"{_CACHE_FORMAT}\0{yaml.__version__}\0{text}"
    file = cache_dir("catalog") / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
    data = load_json(file, 16 * len(text), _undated) if cached else None
    if data is None:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
        if cached and _storable(data):
            store_json(file, data, keep=4, default=_dated)
    return data


def parse_catalog(text: str, source: str, fmt: str = "yaml", cached: bool = False) -> InstrumentCatalog:
    """Parse catalog text (``fmt`` "yaml" or "json"); errors name ``source``. ``cached``: keep (and read back) the
    parsed YAML in the cache directory (arena/cache.py), for the packaged catalog that every command reads."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates) if fmt == "json" else _parsed_yaml(text, cached)
        return InstrumentCatalog.from_mapping(data)
    except CatalogError as exc:
        raise CatalogError(f"{source}: {exc}") from None
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise CatalogError(f"{source}: not valid {fmt.upper()}: {exc}") from None
    except (TypeError, ValueError) as exc:  # a value of an unexpected type slipped past validation
        raise CatalogError(f"{source}: {exc}") from None


def load_catalog(path: str | Path | None = None) -> InstrumentCatalog:
    """The catalog in ``path`` (YAML, or JSON when it ends in .json); default: the packaged one.

    Any problem (unreadable file, bad syntax, invalid instrument) raises :class:`CatalogError`
    naming the file and, where it applies, the instrument and field.
    """
    if path is None:
        source = DEFAULT_CATALOG
        try:
            text = (resources.files("arena") / "data" / "instruments.yaml").read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"{source}: cannot read the packaged catalog: {exc}") from None
        return parse_catalog(text, source, cached=True)
    file = Path(path)
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{source}: cannot read: {exc}") from None
    return parse_catalog(text, source, "json" if file.suffix.lower() == ".json" else "yaml")


def reference_usd_multiplier(catalog: InstrumentCatalog, instrument: Instrument) -> float:
    """USD per price point per unit of ``instrument`` at the catalog's reference prices: its multiplier, and for
    one quoted in another currency times its conversion pair's ``reference_price`` (inverted for USDJPY-like
    pairs). For figures recorded without the rate of their moment (a fill's price is in its quote currency); the
    engine converts at the live rate."""
    pair = instrument.conversion
    return instrument.usd_multiplier(1.0 if pair is None else catalog[pair].reference_price)
