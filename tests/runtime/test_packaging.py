"""The wheel ships what an installed Arena needs: the example bots, which `arena demo` finds in the package
wherever it is installed (not through the source tree), and nothing that only the source tree has."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOTS = sorted(p.name for p in (ROOT / "arena" / "examples" / "bots").glob("*.py"))
# Debian bookworm's python3-numpy and python3-pandas, which the runner image has (its manifest says so when built).
BOOKWORM = {"numpy": "1.24.2", "pandas": "1.5.3"}
SOURCES = ("pyproject.toml", "README.md", "arena", "sandbox", "runner-images")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built by the project's build backend from a copy of the sources (the tree stays clean)."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=skip)
        else:
            shutil.copy2(path, src / name)
    for licence in ROOT.glob("LICEN[CS]E*"):
        shutil.copy2(licence, src / licence.name)
    build = "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    answer = subprocess.run([sys.executable, "-c", build, str(out)], cwd=src, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert answer.returncode == 0, answer.stderr[-3000:]
    (built,) = out.glob("arena-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed into a folder of its own (a pure wheel installs by unpacking)."""
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def from_wheel(site: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Python with the installed wheel first on its path, run outside the source tree."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], cwd=site.parent, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def test_the_wheel_holds_the_example_bots(wheel: Path) -> None:
    assert len(BOTS) >= 5
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"arena/examples/bots/{bot}" for bot in BOTS} <= names
    assert "arena/examples/__init__.py" in names
    assert {"arena/examples/ml/main.py", "arena/examples/ml/model.onnx"} <= names  # the bot with a model
    assert "arena/store/migrations/versions/0004_sealed_webhook_secrets.py" in names  # other package data stays


def test_arena_demo_resolves_the_bots_from_the_installed_package(installed: Path) -> None:
    probe = ("import json, arena, arena.cli as cli; bots = cli._demo_bots(cli.EXAMPLE_BOTS); "
             "print(json.dumps([arena.__file__, str(cli.EXAMPLE_BOTS), [p.name for p in bots]]))")
    answer = from_wheel(installed, "-c", probe)
    assert answer.returncode == 0, answer.stderr[-3000:]
    package, folder, bots = json.loads(answer.stdout)
    assert Path(package).is_relative_to(installed) and Path(folder) == installed / "arena" / "examples" / "bots"
    assert bots == BOTS


@pytest.mark.sandbox
@pytest.mark.usefixtures("sandbox_runtime")
def test_arena_demo_from_the_wheel_runs_its_example_bots(installed: Path) -> None:
    answer = from_wheel(installed, "-c", "from arena.cli import app; app()", "demo", "--ticks", "20", "--json",
                        timeout=300)  # fmt: skip
    assert answer.returncode == 0, answer.stderr[-3000:]
    standings = json.loads(answer.stdout)["standings"]
    assert sorted(s["bot"] for s in standings) == sorted(Path(b).stem.replace("_", "-") for b in BOTS)
    assert {s["status"] for s in standings} == {"finished"}


def uv_binary() -> str | None:
    """The uv that scripts/bootstrap.sh used: the machine's, else the one it installed into .tools/uv."""
    local = ROOT / ".tools" / "uv" / "bin" / "uv"
    return shutil.which("uv") or (str(local) if local.exists() else None)


def test_the_lock_holds_what_pyproject_asks_for() -> None:
    uv = uv_binary()
    if uv is None:
        pytest.skip("no uv here (an install with pip): scripts/bootstrap.sh installs it, and CI checks the lock")
    answer = subprocess.run([uv, "lock", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})  # fmt: skip
    assert answer.returncode == 0, f"uv.lock is stale; run `uv lock`:\n{answer.stderr[-3000:]}"


def test_the_lock_gives_the_runner_images_numpy_and_pandas() -> None:
    """What a bot imports is the same in a backtest (the locked host) as in a tournament (the runner image)."""
    from arena.images.base import PACKAGES, SUITE
    from sandbox.rootfs import image_layout, installed_image

    image = installed_image()
    built = image_layout(image).manifest.get("packages") if image else None
    lock = (ROOT / "uv.lock").read_text()
    found = {name: re.search(rf'\[\[package\]\]\nname = "{name}"\nversion = "([^"]+)"', lock) for name in BOOKWORM}
    locked = {name: match.group(1) for name, match in found.items() if match}
    assert SUITE == "bookworm" and {"python3-numpy", "python3-pandas"} <= set(PACKAGES)
    assert locked == BOOKWORM
    if built:  # the image on this machine, as its own Python reported it
        assert {name: built.get(name) for name in BOOKWORM} == locked


def test_the_lock_gives_the_runner_images_ml_packages() -> None:
    """scikit-learn and scipy as Debian bookworm has them, onnxruntime as runner-images/python/wheels.txt pins it
    (the same wheel, by hash): the `ml` extra computes in a backtest what the image computes in a tournament."""
    from arena.images.base import PACKAGES
    from arena.images.recipe import RUNNER_DIR
    from arena.images.wheels import WHEELS_FILE, parse_pins
    from sandbox.rootfs import image_layout, installed_image

    [pin] = [p for p in parse_pins((RUNNER_DIR / WHEELS_FILE).read_text()) if p.name == "onnxruntime"]
    wanted = {"scikit-learn": "1.2.1", "scipy": "1.10.1", "onnxruntime": pin.version}
    lock = (ROOT / "uv.lock").read_text()
    found = {name: re.search(rf'\[\[package\]\]\nname = "{name}"\nversion = "([^"]+)"', lock) for name in wanted}
    assert {name: match.group(1) for name, match in found.items() if match} == wanted
    assert "python3-sklearn" in PACKAGES
    assert any(f"sha256:{h}" in lock for h in pin.sha256)  # the lock's onnxruntime wheels include the image's
    image = installed_image()
    built = image_layout(image).manifest.get("packages") if image else None
    if built and "onnxruntime" in built:
        assert {name: built.get(name) for name in wanted} == wanted
