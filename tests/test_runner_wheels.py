"""The runner image's pinned wheels (arena/images/wheels.py): pins parsed strictly, a wheel fetched only by its
pinned hash (pip --require-hashes, then checked again) and reused from the cache; run against a local index."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from arena.images.errors import ImageError
from arena.images.recipe import RUNNER_DIR
from arena.images.wheels import WHEELS_FILE, WheelPin, fetch_wheels, parse_pins


def fake_wheel(folder: Path) -> Path:
    """A minimal valid pure-Python wheel, as a local index serves it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as whl:
        whl.writestr("fakepkg/__init__.py", "VERSION = '1.0'\n")
        whl.writestr("fakepkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.0\n")
        whl.writestr("fakepkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr("fakepkg-1.0.dist-info/RECORD", "")
    path = folder / "fakepkg-1.0-py3-none-any.whl"
    path.write_bytes(buf.getvalue())
    return path


def test_the_recipes_pins_parse():
    pins = parse_pins((RUNNER_DIR / WHEELS_FILE).read_text())
    assert [p.name for p in pins] == ["onnxruntime"]
    assert all(len(h) == 64 for p in pins for h in p.sha256)


@pytest.mark.parametrize("line", ["onnxruntime", "onnxruntime==1.24.4", "onnxruntime>=1.24 --hash=sha256:" + "0" * 64,
                                  "onnxruntime==1.24.4 --hash=md5:" + "0" * 32,
                                  "onnxruntime==1.24.4 --hash=sha256:abc"])
def test_a_pin_without_an_exact_version_and_a_sha256_is_refused(line):
    with pytest.raises(ImageError, match=f"{WHEELS_FILE}, line 2") as refused:
        parse_pins(f"# comment\n{line}\n")
    assert refused.value.code == "BAD_WHEEL_PIN"


def test_a_wheel_is_fetched_by_its_pinned_hash_and_then_reused(tmp_path, monkeypatch):
    index = tmp_path / "index"
    index.mkdir()
    wheel = fake_wheel(index)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    cache = tmp_path / "cache"
    right = WheelPin("fakepkg", "1.0", (hashlib.sha256(wheel.read_bytes()).hexdigest(),))

    wrong = WheelPin("fakepkg", "1.0", ("0" * 64,))
    with pytest.raises(ImageError) as refused:
        fetch_wheels((wrong,), "amd64", cache)
    assert refused.value.code == "WHEELS_FAILED" and "hash" in str(refused.value).lower()
    assert list(cache.glob("*.whl")) == []  # nothing kept of a refused download

    lines: list[str] = []
    [fetched] = fetch_wheels((right,), "amd64", cache, lines.append)
    assert fetched.parent == cache and fetched.read_bytes() == wheel.read_bytes()
    assert [p.name for p in cache.iterdir()] == [wheel.name]  # no download folder left behind

    wheel.unlink()  # the index is gone: the cache answers
    assert fetch_wheels((right,), "amd64", cache, lines.append) == [fetched]
    assert lines[-1] == f"{wheel.name} is cached"
    with pytest.raises(ImageError, match="architecture"):
        fetch_wheels((right,), "s390x", tmp_path / "other")


def test_a_cached_wheel_of_another_architecture_is_not_reused(tmp_path, monkeypatch):
    # A pin lists one hash per platform's wheel, so the hash alone cannot tell an x86_64 wheel from an aarch64 one.
    index = tmp_path / "index"
    index.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    cache = tmp_path / "cache"
    cache.mkdir()
    x86 = fake_wheel(cache).rename(cache / "fakepkg-1.0-cp311-cp311-manylinux_2_28_x86_64.whl")
    pin = WheelPin("fakepkg", "1.0", (hashlib.sha256(x86.read_bytes()).hexdigest(), "1" * 64))
    assert fetch_wheels((pin,), "amd64", cache) == [x86]
    with pytest.raises(ImageError) as refused:  # not cached for arm64, and the (empty) index has none
        fetch_wheels((pin,), "arm64", cache)
    assert refused.value.code == "WHEELS_FAILED"
