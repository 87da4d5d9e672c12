"""The type checker's configuration (pyproject.toml's [tool.mypy], run by `make test`) keeps its promises: the
strict packages get every flag `mypy --strict` sets, in the mypy that is installed, and every package is checked."""

import io
from pathlib import Path

import pytest
from mypy.config_parser import parse_config_file
from mypy.main import define_options
from mypy.options import Options

ROOT = Path(__file__).resolve().parents[1]
STRICT = ["arena.engine", "arena.engine.engine", "sandbox", "sandbox.supervise", "arena_bot", "arena_bot.bot"]
BASELINE = ["arena.api.app", "arena.runtime.tournament", "arena.store.record", "bench.engine", "scripts.cluster"]


def _options() -> Options:
    options, errors = Options(), io.StringIO()
    parse_config_file(options, lambda: None, str(ROOT / "pyproject.toml"), io.StringIO(), errors)
    assert not errors.getvalue(), errors.getvalue()
    options.build_per_module_cache()
    return options


def _strict_flags() -> list[tuple[str, bool]]:
    _, _, assignments = define_options()  # what `--strict` sets: (option, value) pairs
    return assignments


@pytest.mark.parametrize("module", STRICT)
def test_a_strict_package_gets_every_flag_of_mypy_strict(module: str) -> None:
    options = _options().clone_for_module(module)
    missing = [f"{flag} = {value}" for flag, value in _strict_flags() if getattr(options, flag) != value]
    assert not missing, f"{module} is not checked as `mypy --strict` would: {missing}"


@pytest.mark.parametrize("module", BASELINE)
def test_every_other_module_gets_the_sound_baseline(module: str) -> None:
    options = _options().clone_for_module(module)
    assert options.check_untyped_defs and options.warn_unused_ignores and not options.implicit_optional
    assert "ignore-without-code" in options.enable_error_code


def test_the_checked_files_cover_every_package() -> None:
    files = {Path(f) for f in _options().files or []}
    packages = {p.parent.relative_to(ROOT) for p in ROOT.glob("*/__init__.py")}
    packages |= {Path("runner-images/python/arena_bot"), Path("bench"), Path("scripts")}
    assert packages - {Path("tests")} <= files, packages - files
