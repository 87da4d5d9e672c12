"""Loading the instrument catalog from a file (the imperative shell around
:meth:`arena.engine.instruments.InstrumentCatalog.from_mapping`)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from arena.engine.instruments import CatalogError, InstrumentCatalog

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


def parse_catalog(text: str, source: str, fmt: str = "yaml") -> InstrumentCatalog:
    """Parse catalog text (``fmt`` "yaml" or "json"); errors name ``source``."""
    try:
        if fmt == "json":
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        else:
            data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
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
        return parse_catalog(text, source)
    file = Path(path)
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{source}: cannot read: {exc}") from None
    return parse_catalog(text, source, "json" if file.suffix.lower() == ".json" else "yaml")
