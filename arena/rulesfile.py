"""Reading a ruleset override from a YAML or JSON file (the shell around ``resolve_ruleset``)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from arena.engine.rules import DEFAULT_RULESET, Ruleset, resolve_ruleset

MAX_RULES_BYTES = 1 << 20


class RulesFileError(ValueError):
    code = "INVALID_RULES_FILE"


def load_rules(path: str | Path | None) -> Ruleset:
    """The default ruleset with the file's override merged over it (the default when ``path`` is None)."""
    if path is None:
        return DEFAULT_RULESET
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RulesFileError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_RULES_BYTES:
        raise RulesFileError(f"{path}: larger than {MAX_RULES_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except UnicodeDecodeError:
        raise RulesFileError(f"{path}: not UTF-8 text") from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise RulesFileError(
            f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}"
        ) from None
    if data is None:
        return DEFAULT_RULESET
    try:
        return resolve_ruleset(data)
    except ValueError as exc:
        raise RulesFileError(f"{path}: {exc}") from None
