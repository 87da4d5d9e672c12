"""Arena's cache directory on this machine: data derived from what is installed, kept so that the next run skips
the work (the session calendars, the parsed packaged catalog). ``ARENA_CACHE_DIR``, else ``$XDG_CACHE_HOME/arena``
or ``~/.cache/arena``, one folder per kind of entry. Each entry is a JSON file named by what it was derived from; one
that is unreadable, too large or malformed is rebuilt, and a directory that cannot be written is only slower."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def cache_dir(kind: str) -> Path:
    explicit = os.environ.get("ARENA_CACHE_DIR")
    if explicit:
        return Path(explicit) / kind
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "arena" / kind


def load_json(file: Path, max_bytes: int, object_hook: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    """The JSON in ``file``, or None: missing, unreadable, larger than ``max_bytes`` (not ours) or not JSON."""
    try:
        if file.stat().st_size > max_bytes:
            return None
        return json.loads(file.read_bytes(), object_hook=object_hook)
    except (OSError, ValueError, TypeError):  # TypeError: from an object_hook given a value of the wrong type
        return None


def store_json(file: Path, data: Any, keep: int, default: Callable[[Any], Any] | None = None) -> None:
    """Write ``data`` to ``file`` whole or not at all, keeping the ``keep`` newest entries of its folder."""
    with contextlib.suppress(OSError):
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, separators=(",", ":"), default=default)
            os.replace(tmp, file)  # readers see the old file or the whole new one
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            raise
        entries = sorted(file.parent.glob("*.json"), key=lambda f: f.stat().st_mtime)
        for old in entries[:-keep]:
            old.unlink(missing_ok=True)
