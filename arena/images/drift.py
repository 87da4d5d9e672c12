"""How this host's Python differs from the runner image's: a backtest runs the bot in-process here, a
tournament runs it on the image, so a bot that uses numpy, pandas, scikit-learn or onnxruntime could score
differently (a model's probabilities are only the same bits from the same onnxruntime)."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

# Packages of the image that come with an optional extra here (pyproject.toml), named in the warning when missing.
EXTRAS = {"scikit-learn": "ml", "scipy": "ml", "onnxruntime": "ml"}


def local_versions(packages: tuple[str, ...] = ("numpy", "pandas", *EXTRAS)) -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def differences(manifest: Mapping[str, Any], local: Mapping[str, str | None] | None = None) -> list[str]:
    """``["numpy 2.2.1 here, 1.24.2 in the runner image", ...]``; empty when they agree (or no manifest)."""
    if not manifest:
        return []
    packages = manifest.get("packages") or {}
    image = {"python": manifest.get("python"), **packages}
    here = local if local is not None else local_versions(tuple(packages))
    return [f"{name} {_here(name, here.get(name))} here, {wanted} in the runner image"
            for name, wanted in image.items() if wanted and here.get(name) != wanted]


def _here(name: str, found: str | None) -> str:
    if found:
        return found
    extra = EXTRAS.get(name)
    return f"missing (the '{extra}' extra installs it: pip install 'arena[{extra}]')" if extra else "missing"
